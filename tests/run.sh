#!/usr/bin/env bash
# Runs every suite in tests/suites/ in name order and counts the TAP-style
# lines they print ("ok - ..." / "not ok - ...").  A suite that exits
# non-zero without printing a failure counts as one failure, so a crash is
# never silent.  A check that cannot run here prints "ok - WHAT # SKIP WHY"
# (TAP's directive): it is counted as skipped, not passed, and shown.  The
# last line is always "N passed, N failed" (", N skipped" when any were).
#
#   bash tests/run.sh                 every suite
#   bash tests/run.sh 20-sql 40-api   only suites whose name starts so
set -uo pipefail
cd "$(dirname "$0")/.."
export B=${B:-build} VKV_ROOT=$PWD
export BIN=${BIN:-$B/bin}
export VKV_TEST_TMP=${VKV_TEST_TMP:-$(mktemp -d /tmp/vkv-test.XXXXXX)}
chmod 755 "$VKV_TEST_TMP"
pass=0 fail=0 skip=0 failed_suites=()
skipped() { (($1 > 0)) && echo ", $1 skipped"; }
for s in tests/suites/*.sh; do
  name=$(basename "$s" .sh)
  if (($# > 0)); then
    want=0; for f in "$@"; do [[ $name == "$f"* ]] && want=1; done
    ((want)) || continue
  fi
  log="$VKV_TEST_TMP/$name.log"
  echo "=== $name"
  start=$(date +%s)
  bash "$s" >"$log" 2>&1
  rc=$?
  k=$(grep -c '^ok .*# SKIP' "$log"); p=$(($(grep -c '^ok ' "$log") - k))
  f=$(grep -c '^not ok ' "$log")
  grep -E '^(not ok |# |ok .*# SKIP)' "$log" | head -50
  if ((rc != 0 && f == 0)); then
    f=1; echo "not ok - suite $name exited with status $rc"; tail -30 "$log"
  fi
  ((f > 0)) && failed_suites+=("$name")
  echo "--- $name: $p passed, $f failed$(skipped "$k") ($(( $(date +%s) - start ))s, log $log)"
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + k))
done
((${#failed_suites[@]})) && echo "failed suites: ${failed_suites[*]}"
echo "$pass passed, $fail failed$(skipped "$skip")"
((fail == 0))
