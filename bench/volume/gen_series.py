#!/usr/bin/python3
"""gen_series.py OUTDIR [N] [SIZE] - a synthetic CT series for the volume
benchmark: N slices (default 500) of SIZE x SIZE (512) uint16 pixels,
explicit VR little endian, rescale intercept -1024, 0.7 mm pixels and
1 mm slices, files named in random order (so readers must sort by
position).  The image is a body ellipse with two lungs and noise, so
compressors see CT-like data.  Needs Debian's python with pydicom and
numpy.
"""
import os
import random
import sys

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def main():
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 512
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size] / size - 0.5
    body = (x / 0.45) ** 2 + (y / 0.35) ** 2 < 1
    lungs = (((x - 0.18) / 0.14) ** 2 + (y / 0.22) ** 2 < 1) | \
            (((x + 0.18) / 0.14) ** 2 + (y / 0.22) ** 2 < 1)
    base = np.where(body, 40.0, -1000.0)
    base = np.where(lungs, -850.0, base)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    names = list(range(n))
    random.Random(3).shuffle(names)
    for k in range(n):
        hu = base + rng.normal(0, 25, size=(size, size)) + 5 * np.sin(k / 9)
        stored = np.clip(hu + 1024, 0, 4095).astype(np.uint16)
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.FrameOfReferenceUID = frame
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 2, k + 1
        ds.ImageType = "ORIGINAL\\PRIMARY\\AXIAL"
        ds.PatientID, ds.PatientName = "BENCH", "Bench^Volume"
        ds.ImagePositionPatient = [-179.2, -179.2, -250.0 + k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.SliceThickness = 1.0
        ds.ConvolutionKernel = "B70f"
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.PixelRepresentation = 0
        ds.PixelData = stored.tobytes()
        ds.save_as(os.path.join(out, "%08d.dcm" % (names[k] * 7919 % 99991)),
                   write_like_original=False)


if __name__ == "__main__":
    main()
