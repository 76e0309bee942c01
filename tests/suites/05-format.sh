#!/usr/bin/env bash
# Every tracked C file is formatted by the repository's .clang-format
# (`make format` fixes them).  One "ok"/"not ok" line per file, so the
# runner names each file that differs.
set -uo pipefail
if ! command -v clang-format >/dev/null 2>&1; then
  echo "not ok - clang-format is not installed (scripts/install-deps.sh installs it)"
  exit 1
fi
n=0 bad=0
while IFS= read -r f; do
  n=$((n + 1))
  if ! out=$(clang-format --dry-run --Werror "$f" 2>&1); then
    bad=$((bad + 1))
    echo "not ok - $f differs from .clang-format (run: clang-format -i $f)"
    printf '# %s\n' "$(printf '%s\n' "$out" | head -3)"
  fi
done < <(git ls-files -- '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')
((n > 0)) || { echo "not ok - no C files found"; exit 1; }
((bad == 0)) && echo "ok - all $n C files match .clang-format"
exit 0
