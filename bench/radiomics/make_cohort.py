#!/usr/bin/python3
"""Write a synthetic radiomics cohort: N CT-like volumes with one lesion each.

usage: make_cohort.py OUT_DIR [N] [SEED]

Each case is a 96 x 96 x 48 int16 volume at 0.8 x 0.8 x 2.5 mm (a chest-CT
crop): lung-like background (-850 HU, noise), a soft-tissue wall, and an
ellipsoidal lesion of random size (8-25 mm radius), orientation and
texture (mean 0-60 HU, correlated noise, an optional necrotic core), with
its mask.  Writes case_NNN_image.nii.gz, case_NNN_mask.nii.gz and
cohort.csv (case,image,mask,label) in OUT_DIR.  Deterministic per seed.
"""
import os
import sys

import nibabel as nib
import numpy as np

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
os.makedirs(out, exist_ok=True)
shape = (96, 96, 48)
spacing = np.array([0.8, 0.8, 2.5])
affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])


def smooth(a, passes):
    for _ in range(passes):
        for ax in range(3):
            a = (np.roll(a, 1, ax) + a + np.roll(a, -1, ax)) / 3.0
    return a


x, y, z = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
pos = np.stack([x, y, z], -1) * spacing
rows = ["case,image,mask,label"]
for c in range(n):
    img = -850 + 40 * smooth(rng.normal(size=shape), 2) * 3
    img[:, :8, :] = 40 + 20 * rng.normal(size=(shape[0], 8, shape[2]))
    centre = np.array(shape) * spacing / 2 + rng.uniform(-8, 8, 3)
    radii = rng.uniform(8, 25, 3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    d = (pos - centre) @ q
    r = np.sqrt(((d / radii) ** 2).sum(-1))
    lesion = r <= 1.0
    tex = smooth(rng.normal(size=shape), 1) * rng.uniform(20, 80)
    mean = rng.uniform(0, 60)
    img[lesion] = mean + tex[lesion]
    if rng.uniform() < 0.4:
        img[r < 0.4] = mean - 40 + tex[r < 0.4] * 0.5
    img = np.clip(np.rint(img), -1024, 3000).astype(np.int16)
    name = "case_%03d" % c
    nib.save(nib.Nifti1Image(img, affine), os.path.join(out, name + "_image.nii.gz"))
    nib.save(nib.Nifti1Image(lesion.astype(np.uint8), affine),
             os.path.join(out, name + "_mask.nii.gz"))
    rows.append("%s,%s_image.nii.gz,%s_mask.nii.gz,1" % (name, name, name))
with open(os.path.join(out, "cohort.csv"), "w") as f:
    f.write("\n".join(rows) + "\n")
print("wrote %d cases to %s" % (n, out))
