#!/usr/bin/env bash
# `make demo`: make a synthetic chest CT with COVID-19-like lesions (the
# project's own phantom, so no patient data is needed) and run the main job
# on it.  Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail
build=${1:-build}
nova="$build/src/app/nova/nova"
out=${NOVA_DEMO_DIR:-demo}
rm -rf "$out/study" "$out/result"
mkdir -p "$out"
echo "== making a synthetic study: nova phantom --kind covid"
"$nova" phantom -o "$out/study" --kind covid --seed 7 --size 256x256x160
echo
echo "== what the study holds: nova info"
"$nova" info "$out/study/dicom" | head -n 20
echo
echo "== the main job: nova analyze"
"$nova" analyze "$out/study/dicom" -o "$out/result"
echo
echo "Open $out/result/report.html in a browser; result.json is beside it."
