#!/usr/bin/python3
"""test_convert_nibabel.py NOVA SOURCE_ROOT - `nova convert` output read by
nibabel must have the affine and voxels that nibabel computes from the
DICOM files itself.  TAP output.

For each DICOM series: nibabel's DICOM wrappers (nibabel.nicom) give each
slice's pixels (rescaled) and affine; slices are ordered by nibabel's own
slice indicator and the slice axis is the step between the first and last
positions.  Both volumes are brought to the closest canonical (RAS+)
orientation by nibabel and must then agree: affine within 1e-3 mm and
every voxel equal.
"""
import glob
import os
import subprocess
import sys
import tempfile
import warnings

warnings.simplefilter("ignore")
try:
    import numpy as np
    import nibabel as nib
    from nibabel.nicom import dicomwrappers
except ImportError:
    print("1..0 # SKIP nibabel/numpy missing")
    sys.exit(0)
NOVA, ROOT = sys.argv[1], sys.argv[2]
DATA = os.environ.get("NOVA_DATA_DIR", os.path.join(ROOT, "..", "shared",
                                                    "data"))
LPS_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def nibabel_from_dicom(folder):
    files = [f for f in glob.glob(os.path.join(folder, "**", "*"),
                                  recursive=True) if os.path.isfile(f)]
    ws = []
    for f in files:
        try:
            w = dicomwrappers.wrapper_from_file(f)
            if "PixelData" in w.dcm_data:
                ws.append(w)
        except Exception:
            pass
    ws.sort(key=lambda w: w.slice_indicator)
    data = np.stack([w.get_data() for w in ws], axis=-1)
    affine = np.array(ws[0].affine, dtype=float)
    first = np.array(ws[0].image_position, dtype=float)
    last = np.array(ws[-1].image_position, dtype=float)
    affine[:3, 2] = (last - first) / (len(ws) - 1)
    return nib.Nifti1Image(data.astype(np.float64), LPS_RAS @ affine)


def check(name, folder, tmp, n):
    out = os.path.join(tmp, name + ".nii.gz")
    r = subprocess.run([NOVA, "convert", folder, "-o", out, "-q"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"not ok {n} - {name}: nova convert failed: {r.stderr}")
        return
    ours = nib.as_closest_canonical(nib.load(out))
    ref = nib.as_closest_canonical(nibabel_from_dicom(folder))
    problems = []
    if ours.shape != ref.shape:
        problems.append(f"shape {ours.shape} vs {ref.shape}")
    else:
        diff = np.abs(ours.affine - ref.affine).max()
        if diff > 1e-3:
            problems.append(f"affine differs by {diff}:\n{ours.affine}\n"
                            f"{ref.affine}")
        a = np.asarray(ours.dataobj).astype(np.float64)
        b = np.asarray(ref.dataobj)
        bad = int(np.count_nonzero(a != b))
        if bad:
            problems.append(f"{bad} voxels differ")
    if problems:
        print(f"not ok {n} - {name}")
        for p in problems:
            print("# " + p.replace("\n", "\n# "))
    else:
        print(f"ok {n} - {name}")


def main():
    cases = [("cip-ct64", os.path.join(DATA, "chest-ct/cip-ct64/dicom")),
             ("ibsi-phantom",
              os.path.join(DATA, "chest-ct/ibsi-ct-phantom/dicom/image"))]
    with tempfile.TemporaryDirectory() as tmp:
        messy = os.path.join(tmp, "messy")
        r = subprocess.run([sys.executable,
                            os.path.join(ROOT, "tests/unit/make_messy.py"),
                            messy], capture_output=True)
        if r.returncode == 0:
            cases.append(("messy-reversed", os.path.join(messy, "reversed")))
        print(f"1..{len(cases)}")
        for n, (name, folder) in enumerate(cases, 1):
            if not os.path.isdir(folder):
                print(f"ok {n} - {name} # SKIP {folder} absent")
                continue
            check(name, folder, tmp, n)


if __name__ == "__main__":
    main()
