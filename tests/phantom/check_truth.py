#!/usr/bin/env python3
"""Check a `nova phantom` study with tools that share no code with Nova.

usage: check_truth.py STUDY_DIR

Reads STUDY_DIR/labels.nii.gz with nibabel and STUDY_DIR/truth.json, and
the DICOM series with pydicom, then asserts:
  - every lesion's JSON volume equals its label count x voxel volume
    (within one voxel volume), and the per-lobe lesion volumes likewise;
  - the label volume and the DICOM series have the same shape and the
    NIfTI affine matches the DICOM geometry (LPS to RAS);
  - the lung parenchyma (labels 1-5) histogram peaks in [-900, -800] HU
    for a `normal` study.
Prints 'truth-ok' and exits 0, or prints the failure and exits 1.
"""
import glob
import json
import os
import sys

import nibabel
import numpy
import pydicom


def main(study):
    truth = json.load(open(os.path.join(study, "truth.json")))
    img = nibabel.load(os.path.join(study, "labels.nii.gz"))
    lab = numpy.asarray(img.dataobj)
    vox_ml = truth["voxel_volume_ml"]
    sx, sy, sz = truth["spacing_mm"]
    assert abs(vox_ml - sx * sy * sz / 1000) < 1e-9, "voxel volume"
    assert list(lab.shape) == truth["dims"], (lab.shape, truth["dims"])
    for les in truth["lesions"]:
        n = int((lab == les["label"]).sum())
        assert abs(n * vox_ml - les["volume_ml"]) <= vox_ml, (
            "lesion", les["label"], n * vox_ml, les["volume_ml"])
        assert n == les["voxels"], ("lesion voxels", les["label"], n)
    total = sum(int((lab == les["label"]).sum()) for les in truth["lesions"])
    assert abs(total * vox_ml - truth["lesion_volume_ml"]) <= vox_ml + 1e-3

    files = sorted(glob.glob(os.path.join(study, "dicom", "*.dcm")))
    assert len(files) == lab.shape[2], (len(files), lab.shape)
    first = pydicom.dcmread(files[0])
    ipp = [float(v) for v in first.ImagePositionPatient]
    # NIfTI voxel (0,0,0) in RAS is DICOM LPS with x, y negated.
    aff = img.affine
    assert abs(aff[0, 3] + ipp[0]) < 1e-3 and abs(aff[1, 3] + ipp[1]) < 1e-3
    assert abs(aff[2, 3] - ipp[2]) < 1e-3, (aff, ipp)
    if truth["kind"] == "normal":
        vol = numpy.stack([pydicom.dcmread(f).pixel_array for f in files],
                          axis=-1)  # rows (y), columns (x), z
        vol = vol.transpose(1, 0, 2)  # x, y, z like the NIfTI
        lung = (lab >= 1) & (lab <= 5)
        hu = vol[lung].astype(numpy.int32)
        hist, edges = numpy.histogram(hu, bins=numpy.arange(-1100, 101, 10))
        peak = edges[int(hist.argmax())] + 5
        assert -900 <= peak <= -800, ("lung peak", peak)
    print("truth-ok")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except AssertionError as e:
        print("truth check failed:", e)
        sys.exit(1)
