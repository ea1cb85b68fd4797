#!/usr/bin/python3
"""test_cli.py NOVA SOURCE_ROOT - `nova phantom` and `nova phantom insert`
from the command line, checked with pydicom and nibabel.  TAP output.

- a small covid study passes check_truth.py (labels vs JSON vs DICOM);
- the same command twice gives byte-identical files;
- --rle gives RLE Lossless files whose pixels (decoded by pydicom) equal
  the native ones;
- bad options exit 2 (usage) or 1 (bad input) with a message;
- insertion into the shared cip-ct64 scan writes a DERIVED series in the
  same study with new series UID, and its truth matches its labels.
"""
import contextlib
import glob
import hashlib
import io
import os
import subprocess
import sys
import tempfile

try:
    import numpy
    import nibabel
    import pydicom
except ImportError:
    print("1..0 # SKIP numpy/nibabel/pydicom missing")
    sys.exit(0)

NOVA, ROOT = sys.argv[1], sys.argv[2]
DATA = os.environ.get("NOVA_DATA_DIR", os.path.join(ROOT, "..", "shared",
                                                    "data"))
sys.path.insert(0, os.path.join(ROOT, "tests", "phantom"))
import check_truth  # noqa: E402

results = []


def case(name, fn):
    try:
        msg = fn()
        if msg and msg.startswith("SKIP"):
            results.append(("ok", name + " # " + msg))
        else:
            results.append(("ok", name))
    except Exception as e:  # noqa: BLE001 - report any failure as not ok
        results.append(("not ok", "%s: %s" % (name, e)))


def run(*args):
    return subprocess.run([NOVA] + list(args), capture_output=True,
                          text=True, timeout=600)


def digest(folder):
    h = hashlib.sha256()
    for f in sorted(glob.glob(os.path.join(folder, "**", "*"),
                              recursive=True)):
        if os.path.isfile(f):
            h.update(os.path.relpath(f, folder).encode())
            h.update(open(f, "rb").read())
    return h.hexdigest()


def load(folder):
    fs = [pydicom.dcmread(f) for f in glob.glob(os.path.join(folder, "*"))]
    fs.sort(key=lambda d: float(d.ImagePositionPatient[2]))
    return fs


tmp = tempfile.mkdtemp(prefix="nova-phantom-cli-")
study = ["phantom", "--kind", "covid", "--seed", "3", "--size", "64x64x40",
         "-q"]


def t_truth():
    r = run(*study, "-o", tmp + "/a")
    assert r.returncode == 0, r.stderr
    with contextlib.redirect_stdout(io.StringIO()):
        check_truth.main(tmp + "/a")


def t_same_bytes():
    r = run(*study, "-o", tmp + "/b")
    assert r.returncode == 0, r.stderr
    assert digest(tmp + "/a") == digest(tmp + "/b"), "outputs differ"


def t_rle():
    r = run(*study, "--rle", "-o", tmp + "/r")
    assert r.returncode == 0, r.stderr
    a, b = load(tmp + "/a/dicom"), load(tmp + "/r/dicom")
    assert len(a) == len(b) == 40
    for x, y in zip(a, b):
        assert y.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"
        assert (x.pixel_array == y.pixel_array).all(), "RLE pixels differ"


def t_bad_options():
    r = run("phantom", "--kind", "flu", "-o", tmp + "/x")
    assert r.returncode == 2 and "flu" in r.stderr, (r.returncode, r.stderr)
    r = run("phantom", "--size", "5000", "-o", tmp + "/x")
    assert r.returncode == 1 and "bad phantom size" in r.stderr, r.stderr
    r = run("phantom", "--kind", "covid")
    assert r.returncode == 2 and "-o" in r.stderr, r.stderr
    r = run("phantom", "insert", "--into", tmp + "/nonexistent", "-o",
            tmp + "/y")
    assert r.returncode == 1 and "nonexistent" in r.stderr, r.stderr
    r = run("phantom", "--help")
    assert r.returncode == 0 and "usage: nova phantom" in r.stdout


def t_insert():
    src = os.path.join(DATA, "chest-ct", "cip-ct64", "dicom")
    if not os.path.isdir(src):
        return "SKIP shared data cip-ct64 absent"
    r = run("phantom", "insert", "--into", src, "-o", tmp + "/i",
            "--lesions", "2", "--radius", "14", "--seed", "5", "-q")
    assert r.returncode == 0, r.stderr
    orig, new = load(src), load(tmp + "/i/dicom")
    assert len(orig) == len(new)
    assert new[0].StudyInstanceUID == orig[0].StudyInstanceUID
    assert new[0].SeriesInstanceUID != orig[0].SeriesInstanceUID
    assert new[0].SOPInstanceUID != orig[0].SOPInstanceUID
    assert list(new[0].ImageType)[:2] == ["DERIVED", "SECONDARY"]
    import json
    truth = json.load(open(tmp + "/i/truth.json"))
    lab = numpy.asarray(nibabel.load(tmp + "/i/labels.nii.gz").dataobj)
    assert len(truth["lesions"]) == 2
    for les in truth["lesions"]:
        n = int((lab == les["label"]).sum())
        assert n == les["voxels"] and n > 0, (les, n)
    # only voxels inside the lung field changed
    a = numpy.stack([d.pixel_array * float(d.RescaleSlope) +
                     float(d.RescaleIntercept) for d in orig])
    b = numpy.stack([d.pixel_array * float(d.RescaleSlope) +
                     float(d.RescaleIntercept) for d in new])
    changed = numpy.transpose(a != b, (2, 1, 0))  # to x, y, z like NIfTI
    assert changed.any() and not (changed & (lab == 0)).any()


case("phantom CLI study passes check_truth", t_truth)
case("same command, same bytes", t_same_bytes)
case("--rle pixels equal native (pydicom)", t_rle)
case("bad options and inputs: exit codes and messages", t_bad_options)
case("insert into cip-ct64: same study, new series, truth", t_insert)
print("1..%d" % len(results))
for i, (status, name) in enumerate(results, 1):
    print("%s %d - %s" % (status, i, name))
sys.exit(0)
