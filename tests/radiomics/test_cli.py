#!/usr/bin/python3
"""End-to-end checks of `nova radiomics` (TAP).

usage: test_cli.py NOVA SOURCE_DIR

The command on the IBSI digital phantom (CSV and JSON against the IBSI
reference values of a few features), the built-in default against
configs/radiomics/default.conf, batch mode over a cohort table with a bad
case, and the bad-input errors (exit 1 with a message naming the problem,
exit 2 on usage).  Volumes for the error cases are written with nibabel.
Skips when ../shared/data is absent.
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

nova, source = sys.argv[1], sys.argv[2]
data = os.environ.get("NOVA_DATA_DIR", os.path.join(source, "..", "shared", "data"))
phantom = os.path.join(data, "radiomics", "ibsi-digital-phantom", "nifti")
image = os.path.join(phantom, "image", "phantom.nii.gz")
mask = os.path.join(phantom, "mask", "mask.nii.gz")
configs = os.path.join(source, "configs", "radiomics")

n = 0
failed = 0


def result(ok, name, detail=""):
    global n, failed
    n += 1
    if not ok:
        failed += 1
        for line in detail.splitlines():
            print("# " + line)
    print(("ok" if ok else "not ok") + " %d - %s" % (n, name))


def run(*args):
    p = subprocess.run([nova, "radiomics", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


if not os.path.exists(image):
    print("1..0 # SKIP %s is absent" % image)
    sys.exit(0)

tmp = tempfile.mkdtemp(prefix="nova-radiomics-")

# 1. Phantom to CSV: mesh volume and GLCM joint maximum as IBSI gives them.
out = os.path.join(tmp, "phantom.csv")
rc, so, se = run("--image", image, "--mask", mask, "--config",
                 os.path.join(configs, "phantom.conf"), "-o", out)
ok = rc == 0 and os.path.exists(out)
rows = list(csv.DictReader(open(out))) if ok else []
vals = {(r["id"], r["aggregation"]): float(r["value"]) for r in rows if r["value"] != "NA"}
ok = ok and abs(vals.get(("morph_volume", "DHQ4"), 0) - 556) <= 4
ok = ok and abs(vals.get(("cm_joint_maximum", "BTW3"), 0) - 0.519) <= 0.0005
ok = ok and abs(vals.get(("szm_zone_percentage", "KOBO"), 0) - 0.0676) <= 0.00005
ok = ok and all(r["code"] for r in rows) and len(rows) > 400
result(ok, "phantom CSV matches IBSI values (%d rows)" % len(rows), se)

# 2. JSON output: same values.
outj = os.path.join(tmp, "phantom.json")
rc, so, se = run("--image", image, "--mask", mask, "--config",
                 os.path.join(configs, "phantom.conf"), "-o", outj)
ok = rc == 0
if ok:
    items = json.load(open(outj))
    jv = {(x["id"], x["aggregation"]): x["value"] for x in items}
    ok = len(items) == len(rows) and abs(jv[("morph_volume", "DHQ4")] - vals[("morph_volume", "DHQ4")]) < 1e-6
result(ok, "JSON output agrees with CSV", se)

# 3. Built-in default equals configs/radiomics/default.conf (CT-like
# settings need integer intensities: the phantom is fine).
rc1, so1, se1 = run("--image", image, "--mask", mask)
rc2, so2, se2 = run("--image", image, "--mask", mask, "--config",
                    os.path.join(configs, "default.conf"))
result(rc1 == 0 and rc2 == 0 and so1 == so2 and len(so1) > 1000,
       "built-in default equals default.conf", se1 + se2)

# 4. Batch: three cases, one with a missing mask; rows for two, exit 1.
cohort = os.path.join(tmp, "cohort.csv")
with open(cohort, "w") as f:
    f.write("case,image,mask,label\n")
    f.write("a,%s,%s,1\n" % (image, mask))
    f.write("bad,%s,%s,1\n" % (image, os.path.join(tmp, "missing.nii.gz")))
    f.write("b,%s,%s,1\n" % (image, mask))
outb = os.path.join(tmp, "batch.csv")
rc, so, se = run("--batch", cohort, "--config", os.path.join(configs, "phantom.conf"),
                 "--threads", "2", "-o", outb)
brows = list(csv.DictReader(open(outb))) if os.path.exists(outb) else []
cases = sorted(set(r["case"] for r in brows))
ok = rc == 1 and cases == ["a", "b"] and "case bad" in se and len(brows) == 2 * len(rows)
ok = ok and [r["value"] for r in brows if r["case"] == "a"] == [r["value"] for r in brows if r["case"] == "b"]
result(ok, "batch: two cases written, the bad one reported", se)

# 4b. Batch, wide table: one row per case, one column per feature.
outw = os.path.join(tmp, "wide.csv")
rc, so, se = run("--batch", cohort, "--config", os.path.join(configs, "phantom.conf"),
                 "--wide", "-o", outw)
wrows = list(csv.DictReader(open(outw))) if os.path.exists(outw) else []
ok = rc == 1 and [r["case"] for r in wrows] == ["a", "b"]
ok = ok and len(wrows[0]) == len(rows) + 1
ok = ok and abs(float(wrows[0]["morph_volume.DHQ4"]) - vals[("morph_volume", "DHQ4")]) < 1e-6
ok = ok and abs(float(wrows[1]["cm_joint_maximum.BTW3"]) - vals[("cm_joint_maximum", "BTW3")]) < 1e-9
result(ok, "batch --wide: one row per case, a column per feature", se)

# 5. Bad inputs.
try:
    import nibabel as nib
    import numpy as np
except ImportError:
    nib = None
if nib is None:
    print("ok %d - bad inputs # SKIP nibabel absent" % (n + 1))
    n += 1
else:
    img = nib.load(image)
    arr = np.asarray(img.dataobj).astype(np.float32)
    aff = img.affine
    m = np.asarray(nib.load(mask).dataobj).astype(np.int16)

    def save(a, name, affine=aff):
        p = os.path.join(tmp, name)
        nib.save(nib.Nifti1Image(a, affine), p)
        return p

    shifted = aff.copy()
    shifted[:3, :3] *= 1.5
    cases = [
        ("grid mismatch", image, save(m, "m_spacing.nii.gz", shifted), "grid mismatch"),
        ("grid size", image, save(m[:, :, :3], "m_size.nii.gz"), "different grids"),
        ("empty mask", image, save(np.zeros_like(m), "m_empty.nii.gz"), "empty mask"),
        ("label absent", image, mask, "label absent"),
    ]
    nan = arr.copy()
    nan[2, 1, 1] = np.nan
    cases.append(("NaN voxel", save(nan, "i_nan.nii.gz"), mask, "(2,1,1) is NaN"))
    for name, i, mk, needle in cases:
        extra = ["--label", "7"] if name == "label absent" else []
        rc, so, se = run("--image", i, "--mask", mk, "--config",
                         os.path.join(configs, "phantom.conf"), *extra)
        result(rc == 1 and needle in se, "bad input: %s -> exit 1, '%s'" % (name, needle), se)

# 6. DICOM SEG masks (written here with pydicom from the phantom's NIfTI
# mask, on the image grid in LPS): same table as the NIfTI mask; BINARY and
# FRACTIONAL; a SEG off the grid is refused.
try:
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
except ImportError:
    pydicom = None


def write_seg(path, m, affine, fractional=False, shift=0.0):
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ affine
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.66.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "SEG"
    nx, ny, nz = m.shape
    ds.Rows, ds.Columns, ds.NumberOfFrames = ny, nx, nz
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.SegmentationType = "FRACTIONAL" if fractional else "BINARY"
    if fractional:
        ds.SegmentationFractionalType = "PROBABILITY"
        ds.MaximumFractionalValue = 255
        ds.BitsAllocated = ds.BitsStored = 8
        ds.HighBit = 7
    else:
        ds.BitsAllocated = ds.BitsStored = 1
        ds.HighBit = 0
    sx = float(np.linalg.norm(lps[:3, 0]))
    sy = float(np.linalg.norm(lps[:3, 1]))
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = [float(v) for v in
                                  list(lps[:3, 0] / sx) + list(lps[:3, 1] / sy)]
    shared.PlaneOrientationSequence = [po]
    pm = Dataset()
    pm.PixelSpacing = [sy, sx]
    shared.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for k in range(nz):
        fg = Dataset()
        pp = Dataset()
        pos = lps @ np.array([shift, 0.0, k, 1.0])
        pp.ImagePositionPatient = [float(v) for v in pos[:3]]
        fg.PlanePositionSequence = [pp]
        si = Dataset()
        si.ReferencedSegmentNumber = 1
        fg.SegmentIdentificationSequence = [si]
        frames.append(fg)
    ds.PerFrameFunctionalGroupsSequence = frames
    planes = np.stack([m[:, :, k].T for k in range(nz)])  # rows = j
    if fractional:
        # Inside voxels 200/255, outside 100/255 (below one half).
        raw = np.where(planes > 0, 200, 100).astype(np.uint8).tobytes()
    else:
        raw = np.packbits((planes > 0).astype(np.uint8).ravel(),
                          bitorder="little").tobytes()
    if len(raw) % 2:
        raw += b"\0"
    ds.PixelData = raw
    ds.save_as(path, write_like_original=False)


if pydicom is None or nib is None:
    print("ok %d - DICOM SEG masks # SKIP pydicom or nibabel absent" % (n + 1))
    n += 1
else:
    maff = nib.load(mask).affine
    mm = np.asarray(nib.load(mask).dataobj)
    ref_so = run("--image", image, "--mask", mask, "--config",
                 os.path.join(configs, "phantom.conf"))[1]
    for frac in (False, True):
        segp = os.path.join(tmp, "seg-%d.dcm" % frac)
        write_seg(segp, mm, maff, fractional=frac)
        rc, so, se = run("--image", image, "--mask", segp, "--config",
                         os.path.join(configs, "phantom.conf"))
        result(rc == 0 and so == ref_so,
               "DICOM SEG (%s) gives the NIfTI mask's table" %
               ("FRACTIONAL" if frac else "BINARY"), se)
    segp = os.path.join(tmp, "seg-off.dcm")
    write_seg(segp, mm, maff, shift=0.5)
    rc, so, se = run("--image", image, "--mask", segp)
    result(rc == 1 and "off the image grid" in se,
           "a SEG off the image grid is refused", se)

# 7. The IBSI CT phantom from its DICOM series and RTSTRUCT gives the same
# table as from its NIfTI conversion (configuration C, Moran/Geary off).
ct = os.path.join(data, "chest-ct", "ibsi-ct-phantom")
if not os.path.isdir(os.path.join(ct, "dicom", "image")):
    print("ok %d - CT phantom DICOM + RTSTRUCT # SKIP absent" % (n + 1))
    n += 1
else:
    conf = os.path.join(tmp, "c.conf")
    with open(conf, "w") as f:
        f.write(open(os.path.join(configs, "ibsi-c.conf")).read())
        f.write("spatial_max_voxels = 1\n")
    rc1, so1, se1 = run("--image", os.path.join(ct, "nifti", "image", "phantom.nii.gz"),
                        "--mask", os.path.join(ct, "nifti", "mask", "mask.nii.gz"),
                        "--config", conf)
    rc2, so2, se2 = run("--image", os.path.join(ct, "dicom", "image"),
                        "--mask", os.path.join(ct, "dicom", "mask", "DCM_RS_00060.dcm"),
                        "--config", conf)
    def table(text):
        return {(r["id"], r["aggregation"]): r["value"] for r in csv.DictReader(io.StringIO(text))}
    t1, t2 = table(so1), table(so2)
    diff = [k for k in t1 if t1[k] != "NA" and
            abs(float(t1[k]) - float(t2.get(k, "nan"))) > 1e-6 * max(1.0, abs(float(t1[k])))]
    result(rc1 == 0 and rc2 == 0 and len(t1) == 210 and not diff,
           "CT phantom: DICOM series + RTSTRUCT equals NIfTI (%d features)" % len(t1),
           se1 + se2 + "differ: %s" % diff[:5])

rc, so, se = run("--image", image)
result(rc == 2 and "usage" in se, "missing --mask is a usage error (exit 2)", se)
rc, so, se = run("--image", image, "--mask", mask, "--config", os.path.join(tmp, "nope.conf"))
result(rc == 1 and "nope.conf" in se, "missing config file named in the error", se)

print("1..%d" % n)
sys.exit(1 if failed else 0)
