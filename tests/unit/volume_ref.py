#!/usr/bin/python3
"""volume_ref.py - independent reference readings for test_volume_io.c.

  volume_ref.py nifti FILE OUT.raw   nibabel's reading of a NIfTI file
  volume_ref.py nifti-qform FILE OUT.raw   the same with its qform
  volume_ref.py nrrd FILE OUT.raw    a NRRD file parsed here in a few lines
                                     of numpy (no pynrrd, no Nova code)
  volume_ref.py write-nifti OUT.nii.gz   a small oblique int16 NIfTI written
                                     by nibabel (qform only)

Writes the voxels as float64, x fastest, to OUT.raw and prints the LPS
affine (3 rows of 4 numbers) and the shape on stdout.  Exit 77 when a
module is missing (the test then skips).
"""
import gzip
import os
import sys

try:
    import numpy as np
except ImportError:
    sys.exit(77)

LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def emit(data, affine_lps, out):
    np.asarray(data, dtype=np.float64).ravel(order="F").tofile(out)
    for r in range(3):
        print(" ".join(repr(float(x)) for x in affine_lps[r]))
    print(" ".join(str(n) for n in data.shape))


def read_nifti(path, out, which="best"):
    try:
        import nibabel as nib
    except ImportError:
        sys.exit(77)
    img = nib.load(path)
    data = np.asarray(img.dataobj)  # applies scl_slope / scl_inter
    affine = img.affine if which == "best" else img.get_qform()
    emit(data, LPS_FROM_RAS @ affine, out)


NRRD_TYPES = {
    "short": "i2", "signed short": "i2", "int16": "i2",
    "unsigned short": "u2", "ushort": "u2", "uint16": "u2",
    "uchar": "u1", "unsigned char": "u1", "uint8": "u1",
    "signed char": "i1", "int8": "i1",
    "int": "i4", "int32": "i4", "unsigned int": "u4", "uint32": "u4",
    "float": "f4", "double": "f8",
}


def read_nrrd(path, out):
    raw = open(path, "rb").read()
    end = raw.index(b"\n\n")
    fields = {}
    for line in raw[:end].decode().splitlines()[1:]:
        if line.startswith("#") or ":=" in line:
            continue
        key, value = line.split(": ", 1)
        fields[key] = value.strip()
    sizes = [int(s) for s in fields["sizes"].split()]
    dt = np.dtype(NRRD_TYPES[fields["type"]])
    if fields.get("endian", "little") == "big":
        dt = dt.newbyteorder(">")
    else:
        dt = dt.newbyteorder("<")
    body = raw[end + 2:]
    if fields["encoding"] in ("gzip", "gz"):
        body = gzip.decompress(body)
    data = np.frombuffer(body, dtype=dt, count=int(np.prod(sizes)))
    data = data.reshape(sizes, order="F")
    dirs = [[float(x) for x in v.strip("()").split(",")]
            for v in fields["space directions"].split()]
    origin = [float(x) for x in fields["space origin"].strip("()").split(",")]
    affine = np.eye(4)
    affine[:3, :3] = np.array(dirs).T
    affine[:3, 3] = origin
    space = fields.get("space", "left-posterior-superior")
    if space in ("right-anterior-superior", "RAS"):
        affine = LPS_FROM_RAS @ affine
    elif space not in ("left-posterior-superior", "LPS"):
        raise SystemExit("unexpected space " + space)
    emit(data, affine, out)


def write_nifti(path):
    try:
        import nibabel as nib
    except ImportError:
        sys.exit(77)
    # An oblique, anisotropic RAS affine: rotation of 20 degrees about z
    # and 10 about x, spacing 0.7 x 0.8 x 2.5, a negative-determinant flip.
    a, b = np.radians(20.0), np.radians(10.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0],
                   [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)],
                   [0, np.sin(b), np.cos(b)]])
    m = rz @ rx @ np.diag([0.7, 0.8, -2.5])
    affine = np.eye(4)
    affine[:3, :3] = m
    affine[:3, 3] = [12.5, -30.25, 77.0]
    data = (np.arange(5 * 6 * 7, dtype=np.int32).reshape((5, 6, 7)) * 37
            % 3001 - 1000).astype(np.int16)
    img = nib.Nifti1Image(data, None)
    img.set_qform(affine, code=1)
    img.set_sform(None, code=0)
    img.header.set_slope_inter(2.0, -3.0)
    nib.save(img, path)
    # The reference reading goes through nibabel's own loader.
    read_nifti(path, path + ".raw")


def main():
    mode = sys.argv[1]
    if mode == "nifti":
        read_nifti(sys.argv[2], sys.argv[3])
    elif mode == "nifti-qform":
        read_nifti(sys.argv[2], sys.argv[3], "qform")
    elif mode == "nrrd":
        read_nrrd(sys.argv[2], sys.argv[3])
    elif mode == "write-nifti":
        write_nifti(sys.argv[2])
    else:
        raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    main()
