#!/usr/bin/env bash
# The one list of Debian packages vkvision needs to build, run and test.
# Installs only what is missing, so a second run costs a few dpkg queries.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang clang-format libclang-rt-14-dev
  libfcgi-dev libjansson-dev libpq-dev libsodium-dev libcurl4-openssl-dev
  libjpeg62-turbo-dev libpng-dev libwebp-dev libexif-dev
  libvulkan-dev glslc spirv-tools vulkan-tools mesa-vulkan-drivers vulkan-validationlayers
  postgresql postgresql-client nginx-light
  libcmocka-dev curl ca-certificates wrk
  iproute2 openssl util-linux
  nodejs npm
  chromium
  python3 python3-torch python3-pil python3-numpy python3-onnx
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# node/npm may come from outside Debian (a preinstalled toolchain): accept any working pair
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]+"${tmp[@]}"}")
fi
if ((${#missing[@]} == 0)); then exit 0; fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# the postgresql package starts a cluster of its own on 5432; we never use it
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
