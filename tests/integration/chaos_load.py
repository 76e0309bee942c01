#!/usr/bin/env python3
"""chaos_load.py: the load of suite 95-chaos.  Posts jobs through nginx as
fast as one connection allows (keep-alive, reconnecting after any error;
a request lost on an idle-closed kept-alive connection is sent once more),
each with its own Idempotency-Key, until the file STOP exists.  Writes one
line per request to LOG: "<epoch ms> <status> <job id or -> <idempotency key>"
(status 0: no answer: connection refused, reset or timed out).

  chaos_load.py URL KEY BODYFILE LOG STOP
"""
import http.client, os, sys, time, urllib.parse, json

url, key, body_file, log_path, stop = sys.argv[1:6]
u = urllib.parse.urlparse(url)
body = open(body_file, "rb").read()
log = open(log_path, "w", buffering=1)
conn = None
n = 0
while not os.path.exists(stop):
    n += 1
    idem = "chaos-%d-%d" % (os.getpid(), n)
    status, jid = 0, "-"
    # A kept-alive connection that the server closes while idle (nginx's old
    # workers do at a reload) fails the next request before any answer; as
    # HTTP clients do, that request is sent again once on a new connection,
    # with the same Idempotency-Key so it cannot be stored twice.
    for attempt in (1, 2):
        reused = conn is not None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            conn.request("POST", "/v1/jobs", body, {
                "Authorization": "Bearer " + key, "Content-Type": "application/json",
                "Idempotency-Key": idem})
            r = conn.getresponse()
            data = r.read()
            status = r.status
            if status in (200, 202):
                jid = str(json.loads(data)["id"])
            if r.getheader("Connection", "").lower() == "close":
                conn.close(); conn = None
            break
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            if reused and attempt == 1:
                continue
            time.sleep(0.05)
            break
        except Exception:
            try:
                conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.05)
            break
    log.write("%d %d %s %s\n" % (int(time.time() * 1000), status, jid, idem))
    if status != 202:
        time.sleep(0.02)
