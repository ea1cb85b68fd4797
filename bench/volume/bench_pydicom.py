#!/usr/bin/python3
"""bench_pydicom.py FOLDER - the volume benchmark's pydicom + numpy peer:
dcmread every file, sort by the projection of Image Position (Patient) on
the normal, stack, rescale to int16 HU.  Prints the checksum of
bench_nova.c."""
import os
import sys
import time

import numpy as np
import pydicom

t0 = time.perf_counter()
folder = sys.argv[1]
slices = []
for name in os.listdir(folder):
    if name.startswith("."):
        continue
    ds = pydicom.dcmread(os.path.join(folder, name))
    iop = np.array(ds.ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    pos = float(np.dot(np.array(ds.ImagePositionPatient, dtype=float),
                       normal))
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    slices.append((pos, np.rint(hu).astype(np.int16)))
slices.sort(key=lambda s: s[0])
vol = np.stack([s[1] for s in slices])
t1 = time.perf_counter()
flat = vol.reshape(-1)
idx = np.arange(0, flat.size, 61, dtype=np.int64)
checksum = int((flat[idx].astype(np.int64) * (idx % 7 + 1)).sum())
print("voxels %d checksum %d first %d total_s %.4f"
      % (flat.size, checksum, flat[0], t1 - t0))
