#!/usr/bin/python3
"""bench/net/cpu.py NOVA [--senders 10] [--per-sender 200] [--keep DIR]
[--strace] [--perf] - a small receiving load for iterating on `nova serve`:
SENDERS storescu processes each send the first PER_SENDER files of
bench/work/net/senderNN (made by bench/net/run.py) over one association.

Prints the wall time, the instances per second and, steadier on a shared
machine, the server's own CPU time per instance (user and system, from
/proc/PID/stat) with the load average.  Checks that the index holds every
instance.  The store is left in DIR (default: a new folder under
bench/work/net-cpu) and not deleted, because mass deletions slow later file
creation on a journal-less ext4 (bench/README.md, "net"); remove the
folders when done.  --strace counts the server's system calls (strace -c
-f; the CPU figures then include strace's overhead); --perf records
`perf record -g` of the server into DIR/perf.data.
"""
import argparse
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def cpu_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def disk():
    """Writes and flushes completed by the disk holding bench/work."""
    dev = os.stat(ROOT).st_dev
    major, minor = os.major(dev), os.minor(dev)
    with open("/proc/diskstats") as f:
        for line in f:
            v = line.split()
            if int(v[0]) == major and int(v[1]) == minor:
                return int(v[7]), int(v[18]) if len(v) > 18 else 0
    return 0, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nova")
    ap.add_argument("--senders", type=int, default=10)
    ap.add_argument("--per-sender", type=int, default=200)
    ap.add_argument("--keep")
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--perf-event", default="cpu-clock",
                    help="event for --perf, e.g. syscalls:sys_enter_futex")
    a = ap.parse_args()
    work = os.path.join(ROOT, "bench", "work", "net")
    base = os.path.join(ROOT, "bench", "work", "net-cpu")
    os.makedirs(base, exist_ok=True)
    out = a.keep or tempfile.mkdtemp(prefix="run-", dir=base)
    storage = os.path.join(out, "store")
    cmd = [a.nova, "serve", "--dicom-port", "0", "--bind", "127.0.0.1",
           "--ae-title", "NOVA", "--storage", storage,
           "--max-associations", str(a.senders + 4)]
    log = open(os.path.join(out, "nova.log"), "w")
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log,
                              text=True)
    port = int(server.stdout.readline().rsplit(":", 1)[1])
    tracer = None
    if a.strace:
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-p", str(server.pid), "-o",
             os.path.join(out, "strace.txt")], stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    elif a.perf:
        tracer = subprocess.Popen(
            ["perf", "record", "--call-graph", "dwarf,16384", "-e", a.perf_event, "-p", str(server.pid), "-o",
             os.path.join(out, "perf.data")], stderr=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL)
        time.sleep(1.0)
    # task-clock counts the server's CPU time exactly (all threads, the
    # short-lived association threads included); /proc's ticks are coarse.
    counter = None
    if not tracer and shutil.which("perf"):
        counter = subprocess.Popen(
            ["perf", "stat", "-x,", "-e", "task-clock,context-switches",
             "-p", str(server.pid), "-o", os.path.join(out, "stat.txt")],
            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        time.sleep(0.5)
    files = []
    for s in range(a.senders):
        d = os.path.join(work, "sender%02d" % s)
        files.append([os.path.join(d, f)
                      for f in sorted(os.listdir(d))[:a.per_sender]])
    load0 = os.getloadavg()
    u0, s0 = cpu_of(server.pid)
    w0, f0 = disk()
    t0 = time.time()
    procs = [subprocess.Popen(["storescu", "-aec", "NOVA", "-aet",
                               "SENDER%02d" % s, "127.0.0.1", str(port)] +
                              files[s], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
             for s in range(a.senders)]
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    bad = sum(1 for p in procs if p.wait() != 0)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = time.time() - t0
    u1, s1 = cpu_of(server.pid)
    w1, f1 = disk()
    load1 = os.getloadavg()
    for t in (tracer, counter):
        if t:
            t.send_signal(2)
            t.wait()
    exact = ""
    if counter:
        with open(os.path.join(out, "stat.txt")) as f:
            v = {line.split(",")[2]: float(line.split(",")[0])
                 for line in f if line.count(",") > 3}
        exact = ("; perf: task-clock %.0f us, %.1f context switches per "
                 "instance" % (v.get("task-clock", 0) * 1000 /
                               (a.senders * a.per_sender),
                               v.get("context-switches", 0) /
                               (a.senders * a.per_sender)))
    server.terminate()
    server.wait()
    db = sqlite3.connect(os.path.join(storage, "index.sqlite"))
    n = db.execute("SELECT count(*) FROM instances").fetchone()[0]
    db.close()
    total = a.senders * a.per_sender
    print("%d/%d stored (%d senders failed) in %.2f s = %.0f/s; server CPU "
          "per instance %.0f us user + %.0f us system; disk writes %.1f, "
          "flushes %.1f per instance (whole disk); senders %.0f us user + "
          "%.0f us system per instance%s; load %.2f -> %.2f; %s"
          % (n, total, bad, seconds, n / seconds, (u1 - u0) / total * 1e6,
             (s1 - s0) / total * 1e6, (w1 - w0) / total, (f1 - f0) / total,
             (c1.ru_utime - c0.ru_utime) / total * 1e6,
             (c1.ru_stime - c0.ru_stime) / total * 1e6, exact, load0[0], load1[0], out))
    return 0 if n == total and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
