#!/usr/bin/env bash
# Lung segmentation benchmark: lungs + airways + zones on a synthetic
# 512x512x500 COVID-19 phantom, THREADS threads (default 2), pinned to the
# first THREADS CPUs when taskset exists.  Budget (ARCHITECTURE.md): 0.35 s.
#
# usage: [REPS=5] [SIZE=512x512x500] bench/chest/run.sh [BUILD_DIR] [THREADS]
set -euo pipefail
build=${1:-build}
threads=${2:-2}
reps=${REPS:-5}
size=${SIZE:-512x512x500}
ninja -C "$build" bench/chest/bench_chest_lungs >/dev/null
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt "$threads" ]; then
  pin=(taskset -c "0-$((threads - 1))")
fi
echo "# $(nproc) CPUs, $(date -u +%FT%TZ)"
"${pin[@]}" "$build/bench/chest/bench_chest_lungs" "$size" "$threads" "$reps" covid
