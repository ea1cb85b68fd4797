#!/usr/bin/env bash
# Volume benchmark: 500 slices of 512x512 to one sorted HU volume, Nova vs
# DCMTK, GDCM and pydicom + numpy.  Usage: bench/volume/run.sh [BUILD_DIR]
# (REPEATS, THREADS and NOVA_BENCH_DATA override the defaults).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec /usr/bin/python3 "$here/run.py" "${1:-build}"
