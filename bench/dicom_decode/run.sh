#!/usr/bin/env bash
# DICOM decode benchmark: parse + decode 500 files of 512x512 16-bit CT in
# five transfer syntaxes, Nova vs DCMTK vs GDCM, in process, THREADS threads
# each (files split between threads), median of RUNS runs.
# Usage: bench/dicom_decode/run.sh [BUILD_DIR]
# Environment: THREADS (2), RUNS (5), N (500), NOVA_DATA_DIR (../shared/data)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
threads=${THREADS:-2}
runs=${RUNS:-5}
n=${N:-500}
data=${NOVA_DATA_DIR:-$root/../shared/data}
src=$data/chest-ct/totalseg-example/dicom
work=$root/bench/work/dicom_decode
[ -d "$src" ] || { echo "dicom_decode: $src not found" >&2; exit 1; }

# 1. Programs, built here (not by make check): Nova's against the build's
#    libnova.a, the peers with g++ against Debian's libdcmtk-dev/libgdcm-dev.
ninja -C "$root/$build" src/lib/libnova.a >/dev/null
bin=$root/$build/bench/dicom_decode
mkdir -p "$bin"
gcc -O2 -std=gnu11 -I"$root/include" "$here/bench_nova.c" \
  "$root/$build/src/lib/libnova.a" -o "$bin/bench_decode_nova" \
  $(pkg-config --libs libjpeg libopenjp2 charls zlib) -lm -pthread
g++ -O2 -std=c++17 "$here/bench_dcmtk.cc" -o "$bin/bench_dcmtk" \
  -ldcmjpls -ldcmjpeg -lijg8 -lijg12 -lijg16 -ldcmimage -ldcmimgle \
  -ldcmdata -loflog -lofstd -pthread
g++ -O2 -std=c++17 -I/usr/include/gdcm-3.0 "$here/bench_gdcm.cc" \
  -o "$bin/bench_gdcm" -lgdcmMSFF -lgdcmDSED -lgdcmCommon -pthread

# 2. Data (made once): the uncompressed series, then one copy per syntax
#    made by the independent encoders.
if [ ! -f "$work/native/.done-$n" ]; then
  rm -rf "$work"
  /usr/bin/python3 "$here/make_series.py" "$src" "$work/native" "$n"
  touch "$work/native/.done-$n"
fi
compress() { # name, command taking IN OUT
  local name=$1; shift
  if [ ! -f "$work/$name/.done-$n" ]; then
    mkdir -p "$work/$name"
    ls "$work/native" | grep '\.dcm$' | \
      xargs -P "$(nproc)" -I{} "$@" "$work/native/{}" "$work/$name/{}"
    touch "$work/$name/.done-$n"
  fi
}
gdcm_j2k() { gdcmconv --j2k -i "$1" -o "$2"; }
export -f gdcm_j2k
compress jpeg-lossless dcmcjpeg +e1
compress jpeg-ls dcmcjpls
compress rle dcmcrle
compress j2k bash -c 'gdcm_j2k "$0" "$1"'

# 3. Timings.
printf '%-14s %8s %8s %8s %11s %10s | %8s %8s %8s %11s %10s | %s\n' \
  syntax nova_s dcmtk_s gdcm_s dcmtk/nova gdcm/nova nova_cpu dcmtk_cpu \
  gdcm_cpu dcmtk/nova gdcm/nova checksums
for name in native jpeg-lossless jpeg-ls rle j2k; do
  dir=$work/$name
  [ "$(ls "$dir" | wc -l)" -ge "$n" ] || { echo "$name: missing files"; continue; }
  nv=$("$bin/bench_decode_nova" "$dir" "$threads" "$runs" || true)
  dc=$("$bin/bench_dcmtk" "$dir" "$threads" "$runs" 2>/dev/null || true)
  gd=$("$bin/bench_gdcm" "$dir" "$threads" "$runs" 2>/dev/null || true)
  get() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
  t_n=$(get median_s "$nv"); t_d=$(get median_s "$dc"); t_g=$(get median_s "$gd")
  # A tool that failed on any file (DCMTK 3.6.7 has no JPEG 2000 decoder)
  # gets no time.
  [ "$(get failures "$dc")" = 0 ] || { t_d=; }
  [ "$(get failures "$gd")" = 0 ] || { t_g=; }
  [ "$(get failures "$nv")" = 0 ] || { t_n=; }
  u_n=$(get cpu_s "$nv"); u_d=$(get cpu_s "$dc"); u_g=$(get cpu_s "$gd")
  [ -n "$t_d" ] || u_d=; [ -n "$t_g" ] || u_g=; [ -n "$t_n" ] || u_n=
  c_n=$(get checksum "$nv"); c_d=$(get checksum "$dc"); c_g=$(get checksum "$gd")
  [ -n "$t_d" ] || c_d=$c_n  # a failed peer is not compared
  same=$([ "$c_n" = "$c_d" ] && [ "$c_n" = "$c_g" ] && echo equal || \
         echo "nova=$c_n dcmtk=$c_d gdcm=$c_g")
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a>0 && b>0) printf "%.2fx", a/b; else print "-" }'; }
  printf '%-14s %8s %8s %8s %11s %10s | %8s %8s %8s %11s %10s | %s\n' \
    "$name" "${t_n:--}" "${t_d:--}" "${t_g:--}" "$(ratio "$t_d" "$t_n")" \
    "$(ratio "$t_g" "$t_n")" "${u_n:--}" "${u_d:--}" "${u_g:--}" \
    "$(ratio "$u_d" "$u_n")" "$(ratio "$u_g" "$u_n")" "$same"
done
echo "($n files of 512x512x16-bit; left: median wall seconds of $runs runs" \
  "with $threads threads; right: CPU seconds (user+system) per run;" \
  "load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs)"
