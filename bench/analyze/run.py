#!/usr/bin/python3
"""bench/analyze: the whole `nova analyze` on a 512x512x500 covid phantom.

Makes the phantom once (uncompressed DICOM, `nova phantom --kind covid`,
into bench/work/analyze), then runs `nova analyze DIR -o OUT -q` REPS times
as its own process and reports, as medians over the runs:
  - the per-stage times nova writes into result.json (timing_ms: read,
    lungs, lesions, measures, assessment),
  - the pipeline (lungs + lesions + measures + assessment) against issue
    6's 0.6 s budget, the whole process's wall time against 1.0 s,
  - peak resident memory (wait4) against 3x the CT volume's bytes,
  - the lesion Dice and volume ratio against the phantom's truth (numpy,
    from --masks on the last run),
with the load average before and after (the machine may be shared).

With --pause S, each timed run starts S seconds after the previous one
ended: on a virtual machine the memory a process frees is handed back to
the host within seconds and the next process's first touches cost more
(nova_alloc_pages in include/nova/core.h), so `--pause 10` measures what a
user who runs one study at a time sees, and no pause what back-to-back
runs (a queue of studies) see.

usage: /usr/bin/python3 bench/analyze/run.py [BUILD] [--reps N]
       [--size WxHxD] [--threads N] [--pause S]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))


def run_once(cmd):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("failed: " + " ".join(cmd))
    return wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build", nargs="?", default="build")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size", default="512x512x500")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pause", type=float, default=0.0)
    a = ap.parse_args()
    nova = os.path.join(a.build, "src", "app", "nova", "nova")
    subprocess.run(["ninja", "-C", a.build, "src/app/nova/nova"], check=True,
                   stdout=subprocess.DEVNULL)
    work = os.path.join(ROOT, "bench", "work", "analyze")
    study = os.path.join(work, "covid-" + a.size)
    os.makedirs(work, exist_ok=True)
    if not os.path.exists(os.path.join(study, "truth.json")):
        subprocess.run([nova, "phantom", "--kind", "covid", "--size", a.size,
                        "-o", study, "-q"], check=True)
    out = os.path.join(work, "out")
    load0 = os.getloadavg()
    rows = []
    base = [nova, "analyze", os.path.join(study, "dicom"), "-o", out, "-q",
            "-t", str(a.threads)]
    run_once(base)  # warm-up: the page cache
    for _ in range(a.reps):
        time.sleep(a.pause)
        wall, rss, cpu = run_once(base)
        t = json.load(open(os.path.join(out, "result.json")))["timing_ms"]
        rows.append((wall, rss, cpu, t))
    run_once(base + ["--masks"])  # for the Dice only, not timed
    load1 = os.getloadavg()
    w, h, d = (int(x) for x in a.size.split("x"))
    vol_mb = w * h * d * 2 / 2**20
    med = lambda xs: statistics.median(xs)
    stages = ["read", "lungs", "lesions", "measures", "assessment"]
    print(f"# {a.size} covid phantom, {a.threads} threads, {len(rows)} runs "
          f"(after one warm-up, {a.pause:g} s apart), load average "
          f"{load0[0]:.2f} -> {load1[0]:.2f}")
    print("| stage | median ms |")
    print("|---|---|")
    for s in stages:
        print(f"| {s} | {med([r[3][s] for r in rows]):.1f} |")
    pipe = med([sum(r[3][s] for s in stages[1:]) for r in rows])
    wall = med([r[0] for r in rows])
    rss = max(r[1] for r in rows)
    cpu = med([r[2] for r in rows])
    print(f"| pipeline (lungs..assessment) | {pipe:.1f} (budget 600, "
          f"{pipe / 600:.2f}x of it) |")
    print(f"| whole process, wall | {wall * 1000:.1f} (budget 1000, "
          f"{wall:.2f}x of it); CPU {cpu * 1000:.0f} ms |")
    print(f"| peak RSS | {rss:.0f} MB = {rss / vol_mb:.2f}x the "
          f"{vol_mb:.0f} MB volume (budget 3x) |")
    try:
        import nibabel as nib
        import numpy as np
        truth = np.asarray(nib.load(os.path.join(study, "labels.nii.gz"))
                           .dataobj) >= 100
        found = np.asarray(nib.load(os.path.join(out, "lesions.nii.gz"))
                           .dataobj) > 0
        both = (truth & found).sum()
        print(f"lesion Dice {2 * both / (truth.sum() + found.sum()):.4f}, "
              f"volume ratio {found.sum() / truth.sum():.4f}")
    except ImportError:
        print("(nibabel/numpy absent: no Dice)")


if __name__ == "__main__":
    main()
