#!/usr/bin/env bash
# Install every Debian 12 package that Nova's build, tests and benchmarks
# need.  Idempotent: installs only what is missing, and runs apt-get update
# only when something is.
set -euo pipefail
packages=(
  # build
  build-essential meson ninja-build pkg-config clang lld
  libclang-rt-14-dev
  # libraries Nova links against
  zlib1g-dev libjpeg62-turbo-dev libopenjp2-7-dev libcharls-dev libpng-dev
  libsqlite3-dev libzip-dev
  libqhull-dev
  libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev
  # independent decoders and validators used by tests and benchmarks
  dcmtk libdcmtk-dev libgdcm-dev libgdcm-tools dicom3tools
  # a second DICOM node for tests/net (peer in both directions)
  orthanc
  python3 python3-numpy python3-pydicom python3-gdcm python3-nibabel
  python3-onnx python3-pil
  # nn: PyTorch exports the test networks (tools/nn/export_models.py)
  python3-torch python3-torchvision
  # misc tools used by scripts
  zip unzip time
  # the report rendered in a real browser (tests/e2e/test_report.py)
  chromium
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
