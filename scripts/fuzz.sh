#!/usr/bin/env bash
# Run Nova's libFuzzer targets for a chosen time (`make fuzz`).
#
#   scripts/fuzz.sh BUILD_DIR SECONDS [TARGET]
#
# BUILD_DIR is a build configured with -Dfuzzing=true (clang, address and
# undefined sanitizers; see the Makefile's build-fuzz).  TARGET defaults to
# every fuzz_* program found under BUILD_DIR/tests/fuzz (each gets SECONDS).
# One worker only (-fork=1), so the run leaves the other cores free, and it
# goes on after a crash (-ignore_crashes), so one bug does not end a long
# run.  Inputs that crash, time out or run out of memory are written to
# BUILD_DIR/fuzz-artifacts/; once fixed, each goes to tests/fuzz/regressions/
# under a name that says what it broke, and `make check` replays it for
# ever.  New coverage-increasing inputs go to BUILD_DIR/fuzz-corpus/<target>
# (not the repository: the seed corpus tests/fuzz/corpus stays small).
# The log is BUILD_DIR/fuzz-<target>.log; the last status line gives the
# executions, exec/s and coverage.
set -euo pipefail
build=${1:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET]}
seconds=${2:?usage: fuzz.sh BUILD_DIR SECONDS [TARGET]}
only=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
fuzz_dir="$root/tests/fuzz"

targets=()
if [ -n "$only" ]; then
  targets=("$build/tests/fuzz/$only")
else
  for t in "$build"/tests/fuzz/fuzz_*; do
    [ -x "$t" ] && [ -f "$t" ] && targets+=("$t")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz.sh: no fuzz targets in $build/tests/fuzz" \
       "(configure it with -Dfuzzing=true and CC=clang)" >&2
  exit 1
fi

artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts" "$fuzz_dir/regressions"
status=0
for target in "${targets[@]}"; do
  name=$(basename "$target")
  work="$build/fuzz-corpus/$name"
  log="$build/fuzz-$name.log"
  mkdir -p "$work"
  # Seeds: the committed corpus of this target (tests/fuzz/corpus for
  # fuzz_dicom, tests/fuzz/corpus-<what> for fuzz_<what>) and every
  # regression file.
  seeds=()
  case "$name" in
    fuzz_dicom) seed_dir="$fuzz_dir/corpus" ;;
    *) seed_dir="$fuzz_dir/corpus-${name#fuzz_}" ;;
  esac
  [ -d "$seed_dir" ] && seeds+=("$seed_dir")
  seeds+=("$fuzz_dir/regressions")
  dict=()
  case "$name" in
    fuzz_dicom) dict=(-dict="$fuzz_dir/dicom.dict") ;;
    *) [ -f "$fuzz_dir/${name#fuzz_}.dict" ] &&
         dict=(-dict="$fuzz_dir/${name#fuzz_}.dict") ;;
  esac
  echo "fuzz.sh: $name for ${seconds}s, log $log"
  before=$(ls "$artifacts" | wc -l)
  # -max_len: big enough for a small compressed frame in its wrapper, small
  # enough to keep executions fast.  -timeout: a single input taking longer
  # is a hang.  -rss_limit_mb/-malloc_limit_mb: a claim in the file must
  # not make Nova allocate without bound.
  set +e
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$target" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
      -max_total_time="$seconds" -max_len=65536 -timeout=10 \
      -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "${dict[@]}" \
      "$work" "${seeds[@]}" > "$log" 2>&1
  rc=$?
  set -e
  after=$(ls "$artifacts" | wc -l)
  grep -E '^#[0-9]+' "$log" | tail -n 1 || true
  grep -E 'stat::' "$log" | tail -n 6 || true
  echo "fuzz.sh: $name exited $rc; corpus $(ls "$work" | wc -l) files;" \
       "$((after - before)) new artifacts in $artifacts"
  if [ "$after" -gt "$before" ]; then
    ls -t "$artifacts" | head -n $((after - before)) | sed 's/^/  /'
    echo "fuzz.sh: reproduce with $target FILE; once fixed, keep each in" \
         "tests/fuzz/regressions/ under a descriptive name"
    status=1
  fi
done
exit $status
