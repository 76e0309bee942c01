#!/usr/bin/python3
"""hub_server.py: a loopback model hub in Hugging Face's HTTP layout, for
`vkv-admin model fetch` tests (nothing leaves the machine).

  hub_server.py PORTFILE WEIGHTS STARMIE_TOK GPT2_TOK [--commit HEX]

Serves, like huggingface.co:
  GET /api/models/vikhyatk/moondream2/revision/{2025-06-21|COMMIT}?blobs=true
      {"sha": COMMIT, "siblings": [{"rfilename": "model.safetensors",
       "size": N, "lfs": {"sha256": HEX, "size": N}}, {"rfilename": ...}]}
  GET /vikhyatk/moondream2/resolve/COMMIT/model.safetensors
      302 to /cdn/SHA256 (as the hub redirects LFS files), which honours Range
  GET /vikhyatk/moondream2/resolve/COMMIT/tokenizer.json   the GPT-2 one
  GET /moondream/starmie-v1/resolve/main/tokenizer.json    starmie-v1's
Anything else: 404.  Faults, switched by the file PORTFILE.mode (read on
every request): "corrupt" serves the weights with one byte changed, "cut"
closes the connection halfway through the next full weights response once.
The port is written to PORTFILE.
"""
import hashlib
import http.server
import json
import os
import sys
import threading

portfile, weights, starmie, gpt2 = sys.argv[1:5]
commit = sys.argv[6] if len(sys.argv) > 6 and sys.argv[5] == "--commit" else \
    "9a7d4024050840e001defacec2b00727e89149e6"
blob = open(weights, "rb").read()
digest = hashlib.sha256(blob).hexdigest()
lock = threading.Lock()


def mode():
    try:
        return open(portfile + ".mode").read().strip()
    except OSError:
        return ""


def clear_mode():
    try:
        os.unlink(portfile + ".mode")
    except OSError:
        pass


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        api = "/api/models/vikhyatk/moondream2/revision/"
        rev = path[len(api):] if path.startswith(api) else None
        # "moved": a hub that answers any commit asked for with its own
        if rev in ("2025-06-21", commit) or (rev and len(rev) == 40 and mode() == "moved"):
            meta = {"id": "vikhyatk/moondream2", "sha": commit, "siblings": [
                {"rfilename": "model.safetensors", "size": len(blob),
                 "lfs": {"sha256": digest, "size": len(blob)}},
                {"rfilename": "tokenizer.json"}, {"rfilename": "config.json"}]}
            return self.send(200, json.dumps(meta).encode())
        if path == "/vikhyatk/moondream2/resolve/%s/model.safetensors" % commit:
            self.send_response(302)
            self.send_header("Location", "/cdn/" + digest)
            self.send_header("X-Linked-Etag", '"%s"' % digest)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/cdn/" + digest:
            data = blob
            m = mode()
            if m == "corrupt":
                data = bytearray(blob)
                data[len(data) // 2] ^= 0xff
                data = bytes(data)
            start = 0
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
                if start >= len(data):
                    return self.send(416, b"", "text/plain")
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            if start:
                self.send_header("Content-Range",
                                 "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
            self.end_headers()
            if m == "cut" and start == 0:
                with lock:
                    clear_mode()
                self.wfile.write(body[:len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self.wfile.write(body)
            return
        if path == "/vikhyatk/moondream2/resolve/%s/tokenizer.json" % commit:
            return self.send(200, open(gpt2, "rb").read())
        if path == "/moondream/starmie-v1/resolve/main/tokenizer.json":
            return self.send(200, open(starmie, "rb").read())
        self.send(404, b'{"error": "not found"}')


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
