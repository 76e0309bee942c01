#!/usr/bin/env bash
# Unit tests: every test_* binary built from tests/unit/ and tests/import/.
set -uo pipefail
rc=0
for t in tests/unit/test_*.c tests/import/test_*.c; do
  b="$BIN/$(basename "$t" .c)"
  echo "# $b"
  "$b" || rc=1
done
exit $rc
