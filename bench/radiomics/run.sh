#!/usr/bin/env bash
# Radiomics benchmark: `nova radiomics` on the IBSI CT phantom under IBSI
# configurations A to E, and a batch of 100 synthetic lesions.
#
# usage: [REPS=3] bench/radiomics/run.sh [BUILD_DIR] [THREADS]
#
# Prints one line per run: what, wall seconds (best of REPS for the phantom),
# and writes the tables under $BUILD_DIR/bench-radiomics/.  Peers
# (PyRadiomics, MIRP) are not packaged by Debian and cannot be installed
# here offline, so no ratio is printed; docs/radiomics.md says so.
set -euo pipefail
build=${1:-build}
threads=${2:-0}
reps=${REPS:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
nova="$build/src/app/nova/nova"
data=${NOVA_DATA_DIR:-$root/../shared/data}
ct="$data/chest-ct/ibsi-ct-phantom/nifti"
out="$build/bench-radiomics"
mkdir -p "$out"

echo "# nova radiomics, $(nproc) CPUs, $(date -u +%FT%TZ)"
if [ -f "$ct/image/phantom.nii.gz" ]; then
  for c in a b c d e; do
    best=""
    for rep in $(seq "$reps"); do
      # wall and CPU (user + system) seconds: on a shared machine the CPU
      # time is the figure that does not depend on other users.
      /usr/bin/time -f "%e %U %S" -o "$out/time.txt" \
        "$nova" radiomics --image "$ct/image/phantom.nii.gz" \
        --mask "$ct/mask/mask.nii.gz" --config "$root/configs/radiomics/ibsi-$c.conf" \
        -o "$out/ct-$c.csv"
      read -r wall user sys < "$out/time.txt"
      cpu=$(awk "BEGIN { print $user + $sys }")
      if [ -z "$best" ] || awk "BEGIN { exit !($cpu < $best) }"; then
        best=$cpu
        best_wall=$wall
      fi
    done
    rows=$(($(wc -l < "$out/ct-$c.csv") - 1))
    printf "ct-phantom config %s: %.2f s CPU, %.2f s wall (%d features, Moran/Geary exact)\n" \
      "${c^^}" "$best" "$best_wall" "$rows"
  done
else
  echo "ct-phantom: skipped ($ct absent)"
fi

cohort="$out/cohort"
if [ ! -f "$cohort/cohort.csv" ]; then
  /usr/bin/python3 "$root/bench/radiomics/make_cohort.py" "$cohort" 100 1 >/dev/null
fi
/usr/bin/time -f "%e %U %S" -o "$out/time.txt" \
  "$nova" radiomics --batch "$cohort/cohort.csv" \
  --config "$root/configs/radiomics/default.conf" --threads "$threads" \
  -o "$out/batch.csv" 2> "$out/batch.log" || true
read -r wall user sys < "$out/time.txt"
cases=$(cut -d, -f1 "$out/batch.csv" | tail -n +2 | sort -u | wc -l)
printf "synthetic batch: %d cases, %.2f s wall, %.2f s CPU (%s)\n" "$cases" \
  "$wall" "$(awk "BEGIN { print $user + $sys }")" "$(tail -n 1 "$out/batch.log")"
