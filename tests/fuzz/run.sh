#!/usr/bin/env bash
# Runs the fuzz targets registered with FUZZ_TARGETS (tests/fuzz/README.md).
#
#   bash tests/fuzz/run.sh list              registered targets
#   bash tests/fuzz/run.sh replay [T...]     replay committed corpora with
#                                            $BIN/fuzz_<t>_replay (TAP lines)
#   bash tests/fuzz/run.sh smoke [T...]      build the libFuzzer binaries and
#                                            fuzz each for FUZZ_TIME s (default 8)
#                                            in a scratch dir (TAP lines)
#   bash tests/fuzz/run.sh fuzz [T...]       fuzz each for FUZZ_TIME s (default
#                                            60); new inputs go to var/fuzz/<t>/
#   bash tests/fuzz/run.sh merge [T...]      minimise var/fuzz/<t>/ into the
#                                            committed tests/fuzz/corpus/<t>/
#
# Env: B (build dir), BIN (replay binaries; default $B/bin), FUZZ_TIME,
# FUZZ_JOBS (parallel libFuzzer workers for `fuzz`, default 1), FUZZ_SEED
# (smoke runs; default 1, 0 = random).
# A crash leaves its input in $FUZZ_ARTIFACTS (default var/fuzz/artifacts)
# and makes the command exit non-zero.
set -uo pipefail
cd "$(dirname "$0")/../.."
B=${B:-build}
BIN=${BIN:-$B/bin}
FUZZ_BIN=$B/fuzz/bin
ART=${FUZZ_ARTIFACTS:-var/fuzz/artifacts}
MAKE=${MAKE:-make}

mode=${1:-}
shift || true

targets() {
  if (($# > 0)); then printf '%s\n' "$@"; return; fi
  local l
  if ! l=$($MAKE --no-print-directory -s B="$B" fuzz-list 2>&1) || [[ -z $l ]]; then
    echo "not ok - fuzz: no targets from make fuzz-list: $l" | head -5 >&2
    return 1
  fi
  printf '%s\n' "$l"
}

# libFuzzer options shared by every run
lf_opts() {
  local t=$1 o=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024
                -print_final_stats=1 "-artifact_prefix=$ART/$t-")
  [[ -f tests/fuzz/dict/$t.dict ]] && o+=("-dict=tests/fuzz/dict/$t.dict")
  printf '%s\n' "${o[@]}"
}

case $mode in
list)
  targets "$@"
  ;;
replay)
  list=$(targets "$@") || { echo "not ok - fuzz: no registered targets"; exit 1; }
  for t in $($MAKE --no-print-directory -s B="$B" fuzz-missing 2>/dev/null); do
    echo "# fuzz $t: registered, but tests/fuzz/fuzz_$t.c does not exist yet (not run)"
  done
  rc=0
  for t in $list; do
    c=tests/fuzz/corpus/$t
    if [[ ! -d $c ]] || [[ -z $(ls -A "$c") ]]; then
      echo "not ok - fuzz $t: no committed corpus in $c"; rc=1; continue
    fi
    n=$(find "$c" -maxdepth 1 -type f | wc -l)
    if out=$("$BIN/fuzz_${t}_replay" "$c" 2>&1); then
      echo "ok - fuzz $t: replayed $n corpus inputs without a crash"
    else
      echo "$out" | tail -40 | sed 's/^/# /'
      echo "not ok - fuzz $t: corpus replay failed"; rc=1
    fi
  done
  exit $rc
  ;;
smoke|fuzz)
  if ! command -v "${FUZZ_CC:-clang}" >/dev/null; then
    echo "not ok - fuzz: clang not found (scripts/install-deps.sh installs it)"; exit 1
  fi
  list=$(targets "$@") || { echo "not ok - fuzz: no registered targets"; exit 1; }
  mkdir -p "$ART"
  if ! $MAKE --no-print-directory -s B="$B" $(for t in $list; do echo "$FUZZ_BIN/fuzz_$t"; done) \
       >"$ART/build.log" 2>&1; then
    tail -30 "$ART/build.log" | sed 's/^/# /'
    echo "not ok - fuzz: building the libFuzzer binaries failed (log $ART/build.log)"; exit 1
  fi
  time_each=${FUZZ_TIME:-$([[ $mode == smoke ]] && echo 8 || echo 60)}
  rc=0
  for t in $list; do
    if [[ $mode == smoke ]]; then
      work=$(mktemp -d "${VKV_TEST_TMP:-/tmp}/fuzz-$t.XXXXXX")
    else
      work=var/fuzz/$t; mkdir -p "$work"
    fi
    mkdir -p "tests/fuzz/corpus/$t"
    mapfile -t opts < <(lf_opts "$t")
    jobs=()
    [[ $mode == fuzz && ${FUZZ_JOBS:-1} -gt 1 ]] && jobs=("-jobs=$FUZZ_JOBS" "-workers=$FUZZ_JOBS")
    # smoke runs use a fixed seed: the same binary explores the same inputs
    # in the same order, so a failure in make test repeats (up to how far the
    # time limit lets it get); FUZZ_SEED=0 means random
    [[ $mode == smoke && ${FUZZ_SEED:-1} != 0 ]] && jobs+=("-seed=${FUZZ_SEED:-1}")
    log=$work.log
    # libFuzzer's own limit plus a hard one, so a hang cannot stall the suite
    timeout -k 5 $((time_each + 60)) "$FUZZ_BIN/fuzz_$t" "${opts[@]}" "${jobs[@]}" \
      -max_total_time="$time_each" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1
    st=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if ((st == 0)); then
      echo "ok - fuzz $t: ${time_each}s of libFuzzer, ${execs:-?} executions, no crash"
    else
      grep -E 'ERROR|SUMMARY|#[0-9]+ 0x|Test unit written' "$log" | head -30 | sed 's/^/# /'
      echo "not ok - fuzz $t: libFuzzer exited with status $st (log $log, artifacts $ART/$t-*)"
      rc=1
    fi
    [[ $mode == smoke ]] && rm -rf "$work"
  done
  exit $rc
  ;;
merge)
  list=$(targets "$@")
  $MAKE --no-print-directory -s B="$B" $(for t in $list; do echo "$FUZZ_BIN/fuzz_$t"; done) || exit 1
  for t in $list; do
    [[ -d var/fuzz/$t ]] || continue
    "$FUZZ_BIN/fuzz_$t" -merge=1 "tests/fuzz/corpus/$t" "var/fuzz/$t" 2>&1 | tail -2
  done
  ;;
*)
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
  ;;
esac
