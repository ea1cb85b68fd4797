#!/usr/bin/python3
"""bench/net/run.py NOVA [--senders 20] [--per-sender 500] [--size 128]
[--skip-orthanc] [--keep] - receiving load: SENDERS concurrent DCMTK storescu
processes, each sending PER_SENDER small CT instances (one series each,
one study) over one association, to `nova serve` and then to Orthanc
(Debian 1.10, default storage settings, HTTP off) on 127.0.0.1.

Checks for Nova: every storescu exits 0, the SQLite index holds exactly
SENDERS*PER_SENDER instances, PER_SENDER in each series, and as many .dcm
files are on disk.  Prints instances/s for both, the ratio, each server's
CPU time (/proc) and the load average before and after; writes
bench/results/net.json.  Instances are made once with pydicom into
bench/work/net (SIZE x SIZE 16-bit, random pixels, new UIDs).

--keep leaves both servers' stores (20,000 files) in bench/work instead of
deleting them: on a journal-less ext4 files created within minutes of a
mass deletion cost far more (bench/README.md, "net"), so runs that keep
their files can follow each other; remove the folders once done.
"""
import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import numpy
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
CT = "1.2.840.10008.5.1.4.1.1.2"


def make_data(work, senders, per, size):
    stamp = os.path.join(work, "made-%d-%d-%d" % (senders, per, size))
    if os.path.exists(stamp):
        return
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    rng = numpy.random.default_rng(20)
    study = generate_uid()
    template = None
    for s in range(senders):
        d = os.path.join(work, "sender%02d" % s)
        os.makedirs(d)
        series = generate_uid()
        for i in range(per):
            ds = Dataset()
            ds.file_meta = FileMetaDataset()
            ds.file_meta.MediaStorageSOPClassUID = CT
            ds.SOPInstanceUID = generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.SOPClassUID = CT
            ds.StudyInstanceUID = study
            ds.SeriesInstanceUID = series
            ds.Modality = "CT"
            ds.PatientID = "BENCH"
            ds.PatientName = "Bench^Net"
            ds.SeriesNumber = s + 1
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [0.0, 0.0, float(i)]
            ds.ImageOrientationPatient = [1.0, 0, 0, 0, 1.0, 0]
            ds.PixelSpacing = [0.7, 0.7]
            ds.SamplesPerPixel = 1
            ds.PhotometricInterpretation = "MONOCHROME2"
            ds.Rows = ds.Columns = size
            ds.BitsAllocated = 16
            ds.BitsStored = 12
            ds.HighBit = 11
            ds.PixelRepresentation = 0
            if template is None:
                template = rng.integers(0, 4096, size=(size, size),
                                        dtype=numpy.uint16).tobytes()
            ds.PixelData = template
            ds.is_little_endian = True
            ds.is_implicit_VR = False
            ds.save_as(os.path.join(d, "%04d.dcm" % i),
                       write_like_original=False)
    open(stamp, "w").close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_listening(port, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("nothing listens on %d" % port)


def server_cpu(pid):
    """User and system CPU seconds the server used so far (/proc)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return {"user": int(fields[11]) / tick, "system": int(fields[12]) / tick}


def load(work, senders, port, called):
    procs = []
    t0 = time.time()
    for s in range(senders):
        d = os.path.join(work, "sender%02d" % s)
        procs.append(subprocess.Popen(
            ["storescu", "-aec", called, "-aet", "SENDER%02d" % s, "+sd",
             "127.0.0.1", str(port), d],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    bad = 0
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            bad += 1
            sys.stderr.write(err.decode(errors="replace")[-500:])
    return time.time() - t0, bad


def bench_nova(nova, work, tmp, senders, per):
    storage = os.path.join(tmp, "nova-store")
    log = open(os.path.join(tmp, "nova.log"), "w")
    p = subprocess.Popen([nova, "serve", "--dicom-port", "0", "--bind",
                          "127.0.0.1", "--ae-title", "NOVA", "--storage",
                          storage, "--max-associations", str(senders + 4)],
                         stdout=subprocess.PIPE, stderr=log, text=True)
    port = int(p.stdout.readline().rsplit(":", 1)[1])
    seconds, bad = load(work, senders, port, "NOVA")
    cpu = server_cpu(p.pid)
    p.terminate()
    p.wait()
    db = sqlite3.connect(os.path.join(storage, "index.sqlite"))
    n = db.execute("SELECT count(*) FROM instances").fetchone()[0]
    per_series = sorted(set(r[0] for r in db.execute(
        "SELECT n_instances FROM series")))
    n_series = db.execute("SELECT count(*) FROM series").fetchone()[0]
    db.close()
    files = sum(1 for root, dirs, fs in os.walk(storage)
                for f in fs if f.endswith(".dcm"))
    ok = (bad == 0 and n == senders * per and files == n and
          per_series == [per] and n_series == senders)
    return {"seconds": seconds, "instances": n, "files": files,
            "series": n_series, "per_series": per_series,
            "failed_senders": bad, "exact": ok,
            "instances_per_s": n / seconds, "server_cpu_s": cpu}


def bench_orthanc(work, tmp, senders, per):
    odir = os.path.join(tmp, "orthanc")
    os.makedirs(odir)
    port = free_port()
    cfg = os.path.join(odir, "orthanc.json")
    with open(cfg, "w") as f:
        json.dump({"Name": "Bench", "StorageDirectory": odir + "/db",
                   "IndexDirectory": odir + "/db",
                   "HttpServerEnabled": False, "DicomAet": "ORTHANC",
                   "DicomPort": port, "DicomAlwaysAllowStore": True,
                   "Plugins": [], "RemoteAccessAllowed": False}, f)
    log = open(os.path.join(odir, "log"), "w")
    p = subprocess.Popen(["/usr/sbin/Orthanc", cfg], stdout=log,
                         stderr=subprocess.STDOUT)
    wait_listening(port)
    seconds, bad = load(work, senders, port, "ORTHANC")
    cpu = server_cpu(p.pid)
    p.terminate()
    p.wait()
    files = sum(1 for root, dirs, fs in os.walk(odir + "/db")
                for f in fs if len(f) == 36)
    return {"seconds": seconds, "files": files, "failed_senders": bad,
            "instances_per_s": files / seconds, "server_cpu_s": cpu}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nova")
    ap.add_argument("--senders", type=int, default=20)
    ap.add_argument("--per-sender", type=int, default=500)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--skip-orthanc", action="store_true")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    work = os.path.join(ROOT, "bench", "work", "net")
    make_data(work, a.senders, a.per_sender, a.size)
    tmp = tempfile.mkdtemp(prefix="nova-bench-net-",
                           dir=os.path.join(ROOT, "bench", "work"))
    try:
        res = {"senders": a.senders, "per_sender": a.per_sender,
               "size": a.size, "cores": os.cpu_count(),
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "loadavg_before": os.getloadavg()}
        res["nova"] = bench_nova(a.nova, work, tmp, a.senders, a.per_sender)
        print("nova serve: %d instances in %.2f s = %.0f instances/s, "
              "index exact: %s; server CPU %.1f s user + %.1f s system"
              % (res["nova"]["instances"], res["nova"]["seconds"],
                 res["nova"]["instances_per_s"], res["nova"]["exact"],
                 res["nova"]["server_cpu_s"]["user"],
                 res["nova"]["server_cpu_s"]["system"]))
        if not a.skip_orthanc and os.path.exists("/usr/sbin/Orthanc"):
            res["orthanc"] = bench_orthanc(work, tmp, a.senders,
                                           a.per_sender)
            res["ratio"] = (res["nova"]["instances_per_s"] /
                            res["orthanc"]["instances_per_s"])
            print("Orthanc:    %d instances in %.2f s = %.0f instances/s; "
                  "server CPU %.1f s user + %.1f s system"
                  % (res["orthanc"]["files"], res["orthanc"]["seconds"],
                     res["orthanc"]["instances_per_s"],
                     res["orthanc"]["server_cpu_s"]["user"],
                     res["orthanc"]["server_cpu_s"]["system"]))
            print("ratio Nova/Orthanc: %.1fx" % res["ratio"])
        res["loadavg_after"] = os.getloadavg()
        print("load average before %s, after %s" % (
            " ".join("%.2f" % x for x in res["loadavg_before"]),
            " ".join("%.2f" % x for x in res["loadavg_after"])))
        out = os.path.join(ROOT, "bench", "results", "net.json")
        with open(out, "w") as f:
            json.dump(res, f, indent=1)
        return 0 if res["nova"]["exact"] else 1
    finally:
        if a.keep:
            print("stores kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
