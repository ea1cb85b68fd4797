#!/usr/bin/python3
"""run.py BUILD_DIR - the volume benchmark: 500 slices of 512x512 into one
sorted int16 HU volume, whole process, warm page cache, 2 threads, Nova
against DCMTK and GDCM (small in-process C++ readers, 2 threads) and
pydicom + numpy (one thread: the GIL).  Each reader runs REPEATS times per
transfer syntax; the median wall time of the whole process is reported
with the ratio peer / Nova.  Every reader must print the same checksum of
the volume, else its time is not reported.

Data: the series of bench/dicom_decode (real Siemens 512x512 CT pixels,
compressed by DCMTK's and GDCM's encoders) is reused where that benchmark
has made it (bench/work/dicom_decode/<syntax>/.done-500).  Otherwise
$NOVA_BENCH_DATA (default /tmp/nova-bench-volume): raw/ made by
gen_series.py, the compressed copies by gdcmconv (Debian libgdcm-tools).
"""
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
DATA = os.environ.get("NOVA_BENCH_DATA", "/tmp/nova-bench-volume")
REPEATS = int(os.environ.get("REPEATS", "5"))
THREADS = os.environ.get("THREADS", "2")
SYNTAXES = [  # folder, gdcmconv option, label, bench/dicom_decode folder
    ("raw", None, "explicit VR LE (uncompressed)", "native"),
    ("rle", "--rle", "RLE lossless", "rle"),
    ("jpegls", "--jpegls", "JPEG-LS lossless", "jpeg-ls"),
    ("jpeg", "--jpeg", "JPEG lossless (process 14)", "jpeg-lossless"),
    ("j2k", "--j2k", "JPEG 2000 lossless", "j2k"),
]
SHARED = os.path.join(HERE, "..", "work", "dicom_decode")


def data_dir(folder, shared):
    """bench/dicom_decode's copy when complete, else ours."""
    theirs = os.path.join(SHARED, shared)
    if os.path.exists(os.path.join(theirs, ".done-500")):
        return os.path.abspath(theirs)
    return os.path.join(DATA, folder)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def make_one(folder, opt):
    """Our copy of one syntax: gen_series.py, then gdcmconv per file."""
    raw = os.path.join(DATA, "raw")
    if not os.path.isdir(raw) or len(os.listdir(raw)) < 500:
        sh(["/usr/bin/python3", os.path.join(HERE, "gen_series.py"), raw])
    if opt is None:
        return raw
    out = os.path.join(DATA, folder)
    names = sorted(os.listdir(raw))
    if os.path.isdir(out) and len(os.listdir(out)) == len(names):
        return out
    os.makedirs(out, exist_ok=True)
    procs = []  # two gdcmconv processes at a time
    for name in names:
        procs.append(subprocess.Popen(
            ["gdcmconv", opt, os.path.join(raw, name),
             os.path.join(out, name)]))
        if len(procs) >= 2:
            procs.pop(0).wait()
    for p in procs:
        p.wait()
    return out


def build():
    sh(["ninja", "-C", BUILD, "bench/volume/bench_volume_nova"],
       stdout=subprocess.DEVNULL)
    out = os.path.join(BUILD, "bench", "volume")
    dcmtk_libs = ["-ldcmjpls", "-ldcmjpeg", "-lijg8", "-lijg12", "-lijg16",
                  "-ldcmimage", "-ldcmimgle", "-ldcmdata", "-loflog",
                  "-lofstd", "-pthread"]
    sh(["g++", "-O2", "-std=c++17", os.path.join(HERE, "bench_dcmtk.cc"),
        "-o", os.path.join(out, "bench_dcmtk")] + dcmtk_libs)
    sh(["g++", "-O2", "-std=c++17", "-I/usr/include/gdcm-3.0",
        os.path.join(HERE, "bench_gdcm.cc"), "-o",
        os.path.join(out, "bench_gdcm"), "-lgdcmMSFF", "-lgdcmDSED",
        "-lgdcmCommon", "-pthread"])
    return {
        "Nova": [os.path.join(out, "bench_volume_nova")],
        "DCMTK": [os.path.join(out, "bench_dcmtk")],
        "GDCM": [os.path.join(out, "bench_gdcm")],
        "pydicom+numpy": ["/usr/bin/python3",
                          os.path.join(HERE, "bench_pydicom.py")],
    }


def run(cmd, folder):
    args = cmd + [folder] + ([THREADS] if cmd[0].endswith(
        ("nova", "dcmtk", "gdcm")) else [])
    times, cpus, out = [], [], None
    for _ in range(REPEATS):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(args, capture_output=True, text=True)
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            return None, None, "failed: " + (r.stderr.strip() or
                                             r.stdout)[:200]
        times.append(t1 - t0)
        cpus.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        out = r.stdout.split()
    checksum = out[out.index("checksum") + 1]
    return statistics.median(times), statistics.median(cpus), checksum


def main():
    readers = build()
    print(f"# {REPEATS} runs each, medians of the whole process: wall "
          f"seconds / CPU seconds (user + system), {THREADS} threads "
          f"(pydicom: 1); (x) = peer / Nova; data {DATA}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("| transfer syntax | Nova wall / cpu | DCMTK | GDCM | "
          "pydicom+numpy |")
    print("|---|---|---|---|---|")
    for folder, opt, label, shared in SYNTAXES:
        path = data_dir(folder, shared)
        if path == os.path.join(DATA, folder):
            path = make_one(folder, opt)
        # Warm the page cache.
        for name in os.listdir(path):
            if name.startswith("."):
                continue
            with open(os.path.join(path, name), "rb") as f:
                while f.read(1 << 20):
                    pass
        results = {name: run(cmd, path) for name, cmd in readers.items()}
        nova_t, nova_c, nova_sum = results["Nova"]
        cells = []
        for name in ["DCMTK", "GDCM", "pydicom+numpy"]:
            t, c, s = results[name]
            if t is None:
                cells.append("n/a (" + s[:60] + ")")
            elif nova_t is not None and s != nova_sum:
                cells.append(f"{t:.3f} / {c:.3f} (checksum differs)")
            elif nova_t is not None:
                cells.append(f"{t:.3f} / {c:.3f} ({t / nova_t:.1f}x / "
                             f"{c / nova_c:.1f}x)")
            else:
                cells.append(f"{t:.3f} / {c:.3f}")
        nova_cell = f"{nova_t:.3f} / {nova_c:.3f}" if nova_t is not None \
            else "failed: " + nova_sum[:80]
        print(f"| {label} | {nova_cell} | " + " | ".join(cells) + " |",
              flush=True)
        print(f"#   {path}", flush=True)


if __name__ == "__main__":
    main()
