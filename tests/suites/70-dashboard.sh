#!/usr/bin/env bash
# 70-dashboard: the operator's dashboard (web/) in a real browser.
#
# A real stack on loopback: throw-away PostgreSQL (pg_tmp.sh), vkv-api, nginx
# (nginx_tmp.sh, serving build/web under /dashboard/) and one vkv-worker on
# lavapipe running CenterNet and the NSFW classifier.  Debian's
# /usr/bin/chromium is driven by puppeteer-core (pinned in
# tests/dashboard/package.json, installed into var/dash-client; it never
# downloads a browser) from tests/dashboard/dashboard.test.mjs, which prints
# its own ok / not ok lines.  Three tenants: ops (admin key), acme and other
# (tenant keys).  Screenshots: $VKV_TEST_TMP/dashboard/shots/*.png.
# Every wait is bounded; every server is stopped on exit.
set -uo pipefail
cd "${VKV_ROOT:-$(pwd)}"
BIN=${BIN:-build/bin}
T=${VKV_TEST_TMP:-$(mktemp -d)}/dashboard
rm -rf "$T"; mkdir -p "$T"; chmod 755 "$T"

pass=0; fail=0
ok()  { echo "ok - $*"; pass=$((pass + 1)); }
nok() { echo "not ok - $*"; fail=$((fail + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }

# ---- the static files and their rules (CSP: no inline code, no HTML sinks)
W=build/web
check "make copied the dashboard into $W" test -f "$W/index.html" -a -f "$W/js/app.js"
check "index.html has no inline script, handler or style attribute" \
  bash -c "! grep -nEi '<script>|<script [^>]*>[^<]|\son[a-z]+=|\sstyle=' web/src/index.html"
check "no HTML sink or eval in web/src/js (innerHTML, outerHTML, insertAdjacentHTML, document.write, eval, Function)" \
  bash -c "! grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function' web/src/js/*.js"

# ---- tools: the system browser and the pinned driver
CHROME=${VKV_CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROME ]] || { nok "chromium at $CHROME (scripts/install-deps.sh)"; exit 1; }
DC=var/dash-client
if ! cmp -s tests/dashboard/package-lock.json "$DC/package-lock.json" 2>/dev/null ||
   [[ ! -d $DC/node_modules/puppeteer-core ]]; then
  rm -rf "$DC"; mkdir -p "$DC"
  cp tests/dashboard/package.json tests/dashboard/package-lock.json "$DC/"
  (cd "$DC" && PUPPETEER_SKIP_DOWNLOAD=1 timeout 300 npm ci --ignore-scripts --no-audit --no-fund \
     >"$T/npm.log" 2>&1) || { nok "npm ci of puppeteer-core"; tail -20 "$T/npm.log"; exit 1; }
fi
ok "puppeteer-core $(node -p "require('./$DC/node_modules/puppeteer-core/package.json').version") installed in $DC"
IMAGES=var/testdata/images
PHOTO=$IMAGES/scenetext01.jpg
[[ -f $PHOTO && -f $IMAGES/coffee.png ]] || { nok "test photos in $IMAGES (make testdata)"; exit 1; }
[[ -f var/cache/models/centernet/centernet.bin ]] || { nok "CenterNet weights (make models)"; exit 1; }

# ---- the stack
source tests/lib/svc.sh
svc_db "$T" || { nok "PostgreSQL starts and the migrations apply"; exit 1; }
for t in ops acme other; do "$BIN/vkv-admin" tenant create "$t" >/dev/null; done
ADMIN_KEY=$("$BIN/vkv-admin" key create ops --admin | tail -1)
ACME_KEY=$("$BIN/vkv-admin" key create acme | tail -1)
OTHER_KEY=$("$BIN/vkv-admin" key create other | tail -1)
[[ -n $ADMIN_KEY && -n $ACME_KEY && -n $OTHER_KEY ]] || { nok "vkv-admin creates keys"; exit 1; }
ACME_ID=$(psql -XAtqc "select id from tenants where name = 'acme'")
OTHER_ID=$(psql -XAtqc "select id from tenants where name = 'other'")

mkdir -p "$T/models"
cp models/centernet.json models/nsfw-mobilenet-v2.json "$T/models/"
WAIT_MS=120000; [[ -n ${SANITIZE:-} ]] && WAIT_MS=400000 && export VKV_RT_TIMEOUT_MS=400000
export VKV_MODELS_DIR=$T/models VKV_API_THREADS=8 VKV_WAIT_TIMEOUT_MS=$WAIT_MS VKV_LOG_LEVEL=info
source tests/lib/vk_icd.sh
vk_icd_default
VKV_WEB_ROOT=$PWD/$W svc_api "$T" || { nok "vkv-api listens and nginx starts"; exit 1; }
VKV_WORKER_NAME=dash-worker svc_bg "$T/worker.log" "$BIN/vkv-worker"
ok "PostgreSQL, vkv-api, nginx and vkv-worker start"
U=$NGINX_URL

# ---- HTTP: headers and the dashboard's API routes (curl)
hdr=$(curl -s -D - -o "$T/index.html" "$U/dashboard/")
check "GET /dashboard/ is the page (200, text/html)" \
  bash -c "grep -q '^HTTP/1.1 200' <<<\"\$1\" && grep -qi '^content-type: text/html' <<<\"\$1\"" _ "$hdr"
csp=$(grep -i '^content-security-policy:' <<<"$hdr" | tr -d '\r')
check "the page has a strict CSP (script-src 'self', no unsafe-inline or unsafe-eval)" \
  bash -c "[[ \$1 == *\"script-src 'self'\"* && \$1 == *\"default-src 'none'\"* && \$1 != *unsafe* ]]" _ "$csp"
check "scripts are served as JavaScript (module scripts need it)" \
  bash -c "curl -s -D - -o /dev/null '$U/dashboard/js/app.js' | grep -qi '^content-type: text/javascript'"
loc=$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$U/dashboard")
check "GET /dashboard redirects to /dashboard/ ($loc)" test "$loc" = "301 $U/dashboard/"
code() { curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $1" "$U$2"; }
check "GET /v1/whoami: admin key -> admin true" \
  bash -c "[[ \$(curl -s -H 'Authorization: Bearer $ADMIN_KEY' $U/v1/whoami) == *'\"admin\": true'* || \$(curl -s -H 'Authorization: Bearer $ADMIN_KEY' $U/v1/whoami) == *'\"admin\":true'* ]]"
c=$(code "$ACME_KEY" /v1/admin/tenants); check "GET /v1/admin/tenants with a tenant key is 403" test "$c" = 403
c=$(code "$ACME_KEY" "/v1/jobs?tenant=all"); check "GET /v1/jobs?tenant=all with a tenant key is 403" test "$c" = 403
c=$(code "$ACME_KEY" "/v1/queue/stats?tenant=all"); check "GET /v1/queue/stats?tenant=all with a tenant key is 403" test "$c" = 403
c=$(code "$ADMIN_KEY" /v1/admin/tenants)
check "GET /v1/admin/tenants lists keys by prefix, never a hash or a key" \
  bash -c "[[ $c == 200 ]] && python3 -c '
import json,sys; j=json.load(open(sys.argv[1])); t={x[\"name\"]:x for x in j[\"tenants\"]}
assert set(t) == {\"ops\",\"acme\",\"other\"}, t
ks=[k for x in j[\"tenants\"] for k in x[\"keys\"]]
assert len(ks) == 3 and all(set(k) == {\"id\",\"prefix\",\"is_admin\",\"created_at\",\"revoked_at\"} for k in ks), ks
' $T/body && ! grep -q -e '$ADMIN_KEY' -e '$ACME_KEY' -e hash $T/body"

pcode() { curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $1" -H 'Content-Type: application/json' -d "$3" "$U$2"; }
c=$(pcode "$ACME_KEY" /v1/admin/settings '{"aging_ms":5}'); check "POST /v1/admin/settings with a tenant key is 403" test "$c" = 403
c=$(pcode "$ADMIN_KEY" /v1/admin/settings '{"fair_quantum_ms":0}')
check "POST /v1/admin/settings refuses fair_quantum_ms 0 (400 invalid_field)" bash -c "[[ $c == 400 ]] && grep -q invalid_field $T/body"
c=$(pcode "$ADMIN_KEY" /v1/admin/settings '{"aging_ms":"5"}')
check "POST /v1/admin/settings refuses a string (400 invalid_field)" bash -c "[[ $c == 400 ]] && grep -q invalid_field $T/body"
c=$(pcode "$ADMIN_KEY" /v1/admin/settings '{"aging_ms":86400001}')
check "POST /v1/admin/settings refuses more than a day (400)" test "$c" = 400
c=$(pcode "$ADMIN_KEY" /v1/admin/settings '{"bogus":1}')
check "POST /v1/admin/settings refuses an unknown field (400 unknown_field)" bash -c "[[ $c == 400 ]] && grep -q unknown_field $T/body"
c=$(pcode "$ADMIN_KEY" /v1/admin/settings '{"aging_ms":12000}')
check "POST /v1/admin/settings sets aging_ms and keeps the others" bash -c "[[ $c == 200 ]] && python3 -c '
import json,sys; s=json.load(open(sys.argv[1]))[\"settings\"]
assert s[\"aging_ms\"] == 12000 and s[\"fair_quantum_ms\"] == 1000 and s[\"retry_max_ms\"] == 300000, s' $T/body"

# the input of a live job: pause BACKGROUND, enqueue, read it back
curl -s -o /dev/null -X POST -H "Authorization: Bearer $ADMIN_KEY" "$U/v1/admin/tiers/0/pause"
id=$(curl -s -H "Authorization: Bearer $ACME_KEY" -F task=classify -F tier=BACKGROUND \
       -F "image=@$IMAGES/coffee.png;type=image/png" "$U/v1/jobs" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
c=$(code "$ACME_KEY" "/v1/jobs/$id/input")
check "GET /v1/jobs/ID/input of a queued job returns its bytes" \
  bash -c "[[ $c == 200 ]] && cmp -s $T/body $IMAGES/coffee.png"
c=$(code "$OTHER_KEY" "/v1/jobs/$id/input"); check "another tenant's job input is 404" test "$c" = 404
c=$(code "$ADMIN_KEY" "/v1/jobs/$id/input?tenant=all"); check "an admin reads any input with ?tenant=all" test "$c" = 200
# two more queued BACKGROUND jobs stay queued (the tier is paused) so the
# overview shows a depth that does not move while the browser compares it
for i in 1 2; do
  curl -s -o /dev/null -H "Authorization: Bearer $OTHER_KEY" -F task=classify -F tier=BACKGROUND \
       -F "image=@$IMAGES/coffee.png;type=image/png" "$U/v1/jobs"
done
BG_QUEUED=3

# ---- jobs whose result and error carry markup (injected through SQL, as a
# worker or a model could produce them): they must show as text
XSS_LABEL='<script>window.__xss=1</script>'
XSS_ERR='<img src=x onerror="window.__xss=2">'
XSS_ID=$(psql -XAtq -v t="$ACME_ID" -v lab="$XSS_LABEL" -v err="$XSS_ERR" <<'SQL'
INSERT INTO job_history (id, tenant_id, task, model, tier, state, params, input_type, input_bytes,
                         attempts, max_attempts, enqueued_at, started_at, finished_at, error, result)
VALUES (nextval('job_id_seq'), :t, 'detect', 'centernet', 2, 'failed', '{}', 'image/png', 100, 1, 3,
        now() - interval '3 s', now() - interval '2 s', now() - interval '1 s', :'err',
        json_build_object('objects', json_build_array(json_build_object('label', :'lab',
            'score', 0.9, 'x_min', 0.1, 'y_min', 0.1, 'x_max', 0.5, 'y_max', 0.6)),
            'caption', :'lab', 'image', json_build_object('width', 640, 'height', 480))::jsonb)
RETURNING id;
SQL
)
check "a job with markup in its label, caption and error is in job_history" test -n "$XSS_ID"
# an analyze job's result (POST /v1/analyze's shape, README "Photo
# analysis"): two boxes in its detect slot, a failed face slot, tags
ANALYZE_ID=$(psql -XAtq -v t="$ACME_ID" <<'SQL'
INSERT INTO job_history (id, tenant_id, task, model, tier, state, params, input_type, input_bytes,
                         attempts, max_attempts, enqueued_at, started_at, finished_at, result)
VALUES (nextval('job_id_seq'), :t, 'analyze', 'analyze', 3, 'succeeded', '{}', 'image/png', 100, 1, 3,
        now() - interval '3 s', now() - interval '2 s', now() - interval '1 s',
        '{"results": {"classify": {"model": "nsfw-mobilenet-v2", "labels": [{"class": 2, "label": "Neutral", "score": 0.98}]},
                      "detect": {"model": "centernet", "image": {"width": 600, "height": 400},
                                 "objects": [{"label": "cup", "score": 0.46, "x_min": 0.27, "y_min": 0.05, "x_max": 0.68, "y_max": 0.65},
                                             {"label": "dining table", "score": 0.40, "x_min": 0.25, "y_min": 0.03, "x_max": 0.71, "y_max": 0.89}]},
                      "detect_faces": {"model": "blazeface-back-onnx", "error": {"code": "model_failed", "message": "out of memory"}}},
          "failed": ["detect_faces"], "tags": ["neutral", "cup", "dining table"],
          "image": {"width": 600, "height": 400}}'::jsonb)
RETURNING id;
SQL
)
check "an analyze-shaped job is in job_history" test -n "$ANALYZE_ID"

# ---- the worker is up (it registers after loading its models)
for _ in $(seq 1 600); do grep -q "model centernet" "$T/worker.log" && break; sleep 0.1; done
check "vkv-worker registers centernet" grep -q "model centernet" "$T/worker.log"

# ---- a finished job submitted by another client: its thumbnail stays
tj=$(curl -s --max-time $((WAIT_MS / 1000 + 10)) -H "Authorization: Bearer $ACME_KEY" -F task=detect -F model=centernet \
       -F tier=IMMEDIATE -F "image=@$IMAGES/coffee.png;type=image/png" "$U/v1/jobs?wait=$WAIT_MS")
THUMB_JOB=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$tj" 2>/dev/null)
THUMB_BOXES=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])["result"]["objects"]))' "$tj" 2>/dev/null)
check "a detect job on coffee.png succeeds (${THUMB_BOXES:-?} objects)" test -n "$THUMB_BOXES"
hdr=$(curl -s -D - -o "$T/thumb.webp" -H "Authorization: Bearer $ACME_KEY" "$U/v1/jobs/$THUMB_JOB/thumbnail")
check "GET /v1/jobs/ID/thumbnail of the finished job is a WebP of at most 160 px" bash -c "
  grep -q '^HTTP/1.1 200' <<<\"\$1\" && grep -qi '^content-type: image/webp' <<<\"\$1\" &&
  python3 -c '
import struct, sys
d = open(sys.argv[1], \"rb\").read()
assert d[:4] == b\"RIFF\" and d[8:16] == b\"WEBPVP8 \", d[:16]
w, h = (v & 0x3fff for v in struct.unpack(\"<HH\", d[26:30]))
print(\"# thumbnail\", w, \"x\", h, len(d), \"bytes\")
assert max(w, h) == 160 and min(w, h) > 0, (w, h)' $T/thumb.webp" _ "$hdr"
c=$(code "$OTHER_KEY" "/v1/jobs/$THUMB_JOB/thumbnail"); check "another tenant's thumbnail is 404" test "$c" = 404
c=$(code "$ADMIN_KEY" "/v1/jobs/$THUMB_JOB/thumbnail?tenant=all"); check "an admin reads any thumbnail with ?tenant=all" test "$c" = 200
c=$(code "$ACME_KEY" "/v1/jobs/$XSS_ID/thumbnail"); check "a job without a thumbnail answers 204" test "$c" = 204
c=$(code "$ACME_KEY" "/v1/jobs/999999/thumbnail"); check "no such job: thumbnail 404" test "$c" = 404

# ---- the browser
DASH_URL=$U DASH_ADMIN_KEY=$ADMIN_KEY DASH_ACME_KEY=$ACME_KEY DASH_ACME_ID=$ACME_ID \
DASH_OTHER_ID=$OTHER_ID DASH_XSS_ID=$XSS_ID DASH_XSS_LABEL=$XSS_LABEL DASH_XSS_ERR=$XSS_ERR \
DASH_BG_QUEUED=$BG_QUEUED DASH_PHOTO=$PHOTO DASH_OBJECT=person DASH_CHROME=$CHROME DASH_TMP=$T \
DASH_MODULES=$PWD/$DC/node_modules DASH_WAIT_MS=$WAIT_MS DASH_THUMB_JOB=$THUMB_JOB DASH_THUMB_BOXES=$THUMB_BOXES DASH_ANALYZE_ID=$ANALYZE_ID \
  timeout $((WAIT_MS / 1000 + 200)) node tests/dashboard/dashboard.test.mjs 2>&1 | tee "$T/browser.log" |
  grep -E '^(ok|not ok|#) '
rc=${PIPESTATUS[0]}
check "the browser test exits 0" test "$rc" = 0
echo "# screenshots: $T/shots"

# ---- retention: thumbnails go after a day, whatever VKV_RETENTION_DAYS
n0=$(psql -XAtqc "select count(*) from job_thumbs")
psql -XAtqc "update job_thumbs set created_at = now() - interval '25 hours' where job_id = $THUMB_JOB" >/dev/null
"$BIN/vkv-admin" retention run --days 30 >"$T/retention.log" 2>&1
n1=$(psql -XAtqc "select count(*) from job_thumbs")
check "retention deletes the day-old thumbnail and keeps the rest ($n0 -> $n1)" \
  bash -c "(( $n0 >= 2 && $n1 == $n0 - 1 )) && [[ -z \$(psql -XAtqc 'select 1 from job_thumbs where job_id = $THUMB_JOB') ]]"
((fail == 0))
