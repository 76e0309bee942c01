# svc.sh: the whole service on loopback for the suites and benches that
# drive it through nginx with their own model directory: a throwaway
# PostgreSQL (pg_tmp.sh) with the migrations, vkv-api on a socket, nginx in
# front (nginx_tmp.sh), and background processes (workers, test workers)
# that are all stopped together.  tests/integration/worker_lib.sh is the
# richer kit of 50-worker and bench/worker.sh (tenant, key, worker names);
# this one leaves tenants and keys to its caller.
#
#   source tests/lib/svc.sh
#   svc_db DIR                cluster + migrations (log DIR/migrate.log);
#                             installs `trap svc_stop EXIT`
#   svc_api DIR               vkv-api on DIR/api.sock (log DIR/api.log; its
#                             settings come from the environment), waits 5 s
#                             at most for its socket, then nginx in DIR/nginx
#                             (sets NGINX_URL; VKV_WEB_ROOT etc. pass through)
#   svc_bg LOG CMD [ARG...]   CMD in the background, stdout and stderr to
#                             LOG; sets SVC_LAST (its pid); svc_stop ends it
#   svc_stop                  nginx, every process started here (TERM, then
#                             waited for), the cluster; safe to call twice
#   svc_md_small DIR CONFIG TOKENIZER
#                             the reduced random-weight Moondream 2 written
#                             into DIR as an operator installs one
#                             (model.safetensors, tokenizer.json of
#                             tests/ref/md_tok_gen.py kind TOKENIZER,
#                             config.json = CONFIG, revision)
# Each function returns non-zero with a line on stderr when it fails; the
# caller prints its own "not ok" or bench error.

source "$(dirname "${BASH_SOURCE[0]}")/pg_tmp.sh"
source "$(dirname "${BASH_SOURCE[0]}")/nginx_tmp.sh"

SVC_PIDS=()
SVC_LAST=

svc_db() {
  mkdir -p "$1"
  trap svc_stop EXIT
  pg_tmp_start || {
    echo "svc: PostgreSQL did not start" >&2
    return 1
  }
  pg_tmp_migrate >"$1/migrate.log" 2>&1 || {
    echo "svc: migrations failed (see $1/migrate.log)" >&2
    return 1
  }
}

svc_bg() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  SVC_LAST=$!
  SVC_PIDS+=("$SVC_LAST")
}

svc_api() {
  local dir=$1 i
  VKV_API_SOCKET=$dir/api.sock svc_bg "$dir/api.log" "${BIN:-build/bin}/vkv-api"
  for ((i = 0; i < 50; i++)); do
    [[ -S $dir/api.sock ]] && break
    sleep 0.1
  done
  [[ -S $dir/api.sock ]] || {
    echo "svc: vkv-api does not listen on $dir/api.sock:" >&2
    tail -5 "$dir/api.log" >&2
    return 1
  }
  nginx_tmp_start "$dir/nginx" "$dir/api.sock" || {
    echo "svc: nginx did not start" >&2
    return 1
  }
}

svc_stop() {
  local p
  nginx_tmp_stop 2>/dev/null
  for p in "${SVC_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${SVC_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  SVC_PIDS=()
  pg_tmp_stop
}

svc_md_small() {
  local m=$1 config=$2 tok=$3 py=/usr/bin/python3
  mkdir -p "$m"
  "$py" tests/ref/moondream_ref.py --config "$config" --parts text,vision,region \
    --save "$m/model.safetensors" >/dev/null &&
    "$py" tests/ref/md_tok_gen.py "$tok" "$m/tokenizer.json" &&
    cp "$config" "$m/config.json" &&
    echo 2025-06-21 >"$m/revision" || {
    echo "svc: reduced Moondream 2 not written into $m" >&2
    return 1
  }
}
