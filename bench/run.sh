#!/usr/bin/env bash
# Runs every benchmark bench/*.sh (except this file) in name order and prints
# its figures.  Each benchmark compares against a reference measured in the
# same run (pgbench, onnxruntime-node, tfjs) and prints ratios.
#   bash bench/run.sh            all
#   bash bench/run.sh queue api  only those
set -uo pipefail
cd "$(dirname "$0")/.."
export B=${B:-build} BIN=${BIN:-build/bin} VKV_ROOT=$PWD
export VKV_TEST_TMP=${VKV_TEST_TMP:-$(mktemp -d /tmp/vkv-bench.XXXXXX)}
chmod 755 "$VKV_TEST_TMP"
rc=0
for s in bench/*.sh; do
  name=$(basename "$s" .sh)
  [[ $name == run ]] && continue
  if (($# > 0)); then
    want=0; for f in "$@"; do [[ $name == "$f"* ]] && want=1; done
    ((want)) || continue
  fi
  echo "=== bench $name ($(date -u +%H:%M:%S))"
  bash "$s" || { echo "bench $name failed (status $?)"; rc=1; }
done
exit $rc
