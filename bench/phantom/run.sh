#!/usr/bin/env bash
# Phantom benchmark: `nova phantom --kind covid --size 512x512x500` written
# (DICOM series + labels.nii.gz + truth.json) on THREADS threads (default
# 2, the issue's target: under 10 s on 2 cores).
#
# usage: [REPS=3] [SIZE=512x512x500] bench/phantom/run.sh [BUILD_DIR] [THREADS]
#
# Prints, per repetition, wall seconds of the whole command and the split
# the command reports (model + voxels, then files), and the best wall time.
# With taskset available the run is pinned to the first THREADS CPUs, so
# "2 cores" means 2 cores even on a bigger machine.  The peer is pydicom
# writing the same 500 slices as native CT files (only the DICOM-writing
# part), printed as a ratio when python3-pydicom is installed.
set -euo pipefail
build=${1:-build}
threads=${2:-2}
reps=${REPS:-3}
size=${SIZE:-512x512x500}
nova="$build/src/app/nova/nova"
out="$build/bench-phantom"
mkdir -p "$out"
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt "$threads" ]; then
  pin=(taskset -c "0-$((threads - 1))")
fi
now() { date +%s.%N; }
echo "# nova phantom covid $size, $threads threads, $(nproc) CPUs, $(date -u +%FT%TZ)"
best=""
for rep in $(seq "$reps"); do
  rm -rf "$out/study"
  t0=$(now)
  line=$("${pin[@]}" "$nova" phantom -o "$out/study" --kind covid --seed 1 \
         --size "$size" --threads "$threads")
  t1=$(now)
  wall=$(echo "$t1 - $t0" | bc)
  echo "run $rep: wall ${wall}s; $line"
  if [ -z "$best" ] || [ "$(echo "$wall < $best" | bc)" -eq 1 ]; then best=$wall; fi
done
echo "best wall: ${best}s (target: < 10 s on 2 cores)"
if /usr/bin/python3 -c "import pydicom, numpy" 2>/dev/null; then
  t0=$(now)
  "${pin[@]}" /usr/bin/python3 - "$out/study/dicom" "$out/pydicom" <<'PY'
import glob, os, sys
import pydicom
src, dst = sys.argv[1:3]
os.makedirs(dst, exist_ok=True)
# Re-write every slice with pydicom (read + write): the time a Python tool
# needs just to put the same series on disk.
for f in sorted(glob.glob(src + "/*.dcm")):
    ds = pydicom.dcmread(f)
    ds.save_as(os.path.join(dst, os.path.basename(f)), write_like_original=False)
PY
  t1=$(now)
  py=$(echo "$t1 - $t0" | bc)
  echo "peer: pydicom read+write of the same series: ${py}s (nova whole study / pydicom write only = $(echo "scale=2; $best / $py" | bc))"
fi
