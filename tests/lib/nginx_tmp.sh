# nginx_tmp.sh: a throwaway nginx in front of vkv-api, for tests, benches
# and `make run` (STYLE.md 23, modelled on nginx-tests).
#
# Usage (bash; source it, then call the functions):
#   source tests/lib/nginx_tmp.sh
#   nginx_tmp_start DIR SOCKET [SOCKET...]   # renders nginx/nginx.conf.in into
#                                            # DIR, starts nginx in the background
#   curl "$NGINX_URL/v1/health"              # NGINX_URL=http://127.0.0.1:PORT
#   nginx_tmp_stop                           # stops it (also safe to call twice)
#
# Sets NGINX_DIR, NGINX_PORT, NGINX_URL, NGINX_PID.  The port is a free
# loopback port (retried when taken meanwhile) unless NGINX_PORT (or
# NGINX_FIXED_PORT) is set before the call (make run: 8080); NGINX_ADDR
# overrides 127.0.0.1.  Several instances may run in one shell: each call
# overwrites the NGINX_* variables, so save NGINX_PID/NGINX_URL and call the
# next one as `NGINX_PORT= nginx_tmp_start ...` for another free port.
# Settings read from the environment, with defaults:
#   VKV_MAX_BODY_BYTES (20971520)  client_max_body_size
#   VKV_RATE_LIMIT (200) VKV_RATE_BURST (400)  per-key limit_req in r/s;
#       NGINX_RATE overrides the whole rate ("1r/m", for tests)
#   VKV_API_THREADS (16)  used to size the upstream keepalive cache
#   VKV_WAIT_TIMEOUT_MS (60000)  fastcgi_read_timeout = this + 5 s
#   VKV_LONG_PER_KEY (8)  concurrent long requests per API key (limit_conn)
#   NGINX_WORKERS (1)
#   VKV_WEB_ROOT (build/web of this checkout)  the dashboard's files
# Logs: $NGINX_DIR/error.log and access.log.  Returns non-zero (and prints
# the error log) when nginx did not come up within 5 s.

nginx_tmp_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

nginx_tmp_start() {
  local dir=$1; shift
  (($# > 0)) || { echo "nginx_tmp_start: no socket given" >&2; return 2; }
  local root; root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  mkdir -p "$dir"
  NGINX_DIR=$(cd "$dir" && pwd)
  local addr=${NGINX_ADDR:-127.0.0.1}
  local workers=${NGINX_WORKERS:-1}
  local threads=${VKV_API_THREADS:-16}
  # idle connections cached per nginx worker: leave threads free for new
  # connections (libfcgi serves one connection per thread, see nginx/README.md)
  local total=$((threads * $#))
  local keep=$(( total / (2 * workers) )); ((keep >= 1)) || keep=1
  local ups="" s
  for s in "$@"; do
    case $s in /*) ;; *) s=$PWD/$s ;; esac
    ups+="server unix:$s; "
  done
  local timeout=$(( (${VKV_WAIT_TIMEOUT_MS:-60000} + 5000) / 1000 ))
  cp "$root/nginx/fastcgi_params" "$NGINX_DIR/fastcgi_params"
  # a free port can be taken between the probe and nginx's bind: retry
  # with another one (the template has no reuseport, so a taken port fails)
  local try port i fixed=${NGINX_FIXED_PORT:-${NGINX_PORT:-}}
  for try in 1 2 3 4 5; do
    port=${fixed:-$(nginx_tmp_free_port)}
    sed -e "s|@PREFIX@|$NGINX_DIR|g" \
        -e "s|@USER@|$(id -un)|g" \
        -e "s|@WORKER_PROCESSES@|$workers|g" \
        -e "s|@LISTEN@|$addr:$port|g" \
        -e "s|@UPSTREAM_SERVERS@|$ups|g" \
        -e "s|@KEEPALIVE@|$keep|g" \
        -e "s|@MAX_BODY@|${VKV_MAX_BODY_BYTES:-20971520}|g" \
        -e "s|@RATE@|${NGINX_RATE:-${VKV_RATE_LIMIT:-200}r/s}|g" \
        -e "s|@BURST@|${VKV_RATE_BURST:-400}|g" \
        -e "s|@READ_TIMEOUT@|$timeout|g" \
        -e "s|@LONG_PER_KEY@|${VKV_LONG_PER_KEY:-8}|g" \
        -e "s|@WEB_ROOT@|${VKV_WEB_ROOT:-$root/build/web}|g" \
        "$root/nginx/nginx.conf.in" >"$NGINX_DIR/nginx.conf"
    if grep -q '@[A-Z_]*@' "$NGINX_DIR/nginx.conf"; then
      echo "nginx_tmp_start: unrendered placeholder: $(grep -o '@[A-Z_]*@' "$NGINX_DIR/nginx.conf" | sort -u)" >&2
      return 1
    fi
    : >"$NGINX_DIR/error.log"
    rm -f "$NGINX_DIR/nginx.pid"
    nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" \
          -g 'daemon off;' >>"$NGINX_DIR/error.log" 2>&1 &
    NGINX_PID=$!
    NGINX_URL="http://$addr:$port"
    for i in $(seq 1 50); do
      kill -0 "$NGINX_PID" 2>/dev/null || break
      # nginx writes its pid file only after binding every listen socket;
      # then any HTTP answer means it is up (503 while vkv-api is not)
      if [[ -s $NGINX_DIR/nginx.pid ]] &&
         curl -s -o /dev/null --max-time 1 "$NGINX_URL/" 2>/dev/null; then
        NGINX_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    if kill -0 "$NGINX_PID" 2>/dev/null; then
      echo "nginx_tmp_start: nginx did not answer on $NGINX_URL" >&2
      cat "$NGINX_DIR/error.log" >&2
      nginx_tmp_stop
      return 1
    fi
    wait "$NGINX_PID" 2>/dev/null
    NGINX_PID=
    if [[ -n $fixed ]] || ! grep -q 'Address already in use' "$NGINX_DIR/error.log"; then
      echo "nginx_tmp_start: nginx exited" >&2; cat "$NGINX_DIR/error.log" >&2
      return 1
    fi
  done
  echo "nginx_tmp_start: no free port after 5 tries" >&2
  return 1
}

nginx_tmp_stop() {
  [[ -n ${NGINX_PID:-} ]] || return 0
  kill -QUIT "$NGINX_PID" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$NGINX_PID" 2>/dev/null
  wait "$NGINX_PID" 2>/dev/null
  NGINX_PID=
  return 0
}
