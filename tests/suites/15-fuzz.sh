#!/usr/bin/env bash
# Fuzz targets (tests/fuzz/README.md): replay every committed corpus with the
# replay binaries ($CC, SANITIZE when set), then a short libFuzzer run per
# target (clang, ASan+UBSan) in a scratch directory.  Any crash fails.
# FUZZ_SMOKE_TIME (seconds per target, default 8) is lowered when there are
# many targets so the whole suite stays under two minutes.
set -uo pipefail
export B=${B:-build} BIN=${BIN:-build/bin}
rc=0
bash tests/fuzz/run.sh replay || rc=1
n=$(bash tests/fuzz/run.sh list | wc -l)
t=${FUZZ_SMOKE_TIME:-8}
((n > 0 && t * n > 80)) && t=$((80 / n))
((t < 2)) && t=2
FUZZ_TIME=$t FUZZ_ARTIFACTS=${VKV_TEST_TMP:-/tmp}/fuzz-artifacts \
  bash tests/fuzz/run.sh smoke || rc=1
exit $rc
