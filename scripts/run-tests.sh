#!/usr/bin/env bash
# Run every test in a build directory and end with "N passed, N failed".
# Counts TAP cases inside each test program (not just programs), and counts
# a program that crashed or timed out without reporting as one failure.
set -u
build=${1:-build}
shift || true
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" > "$build/test-output.txt" 2>&1
status=$?
tail -n 40 "$build/test-output.txt"
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, re, sys
passed = failed = skipped = 0
failures = []
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout") or ""
    ok = nok = sk = 0
    for l in out.splitlines():
        if re.match(r"^ok \d+", l):
            if "# SKIP" in l: sk += 1
            else: ok += 1
        elif re.match(r"^not ok \d+", l):
            nok += 1
            failures.append(t["name"] + ": " + l)
    if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and nok == 0:
        nok = 1
        failures.append(t["name"] + ": " + t["result"])
    if ok + nok + sk == 0 and t["result"] == "OK":
        ok = 1
    if ok + nok + sk == 0 and t["result"] == "SKIP":
        sk = 1
    passed += ok; failed += nok; skipped += sk
for f in failures:
    print("FAILED:", f)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
py=$?
[ $status -eq 0 ] && [ $py -eq 0 ]
