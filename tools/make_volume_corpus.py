#!/usr/bin/env python3
"""make_volume_corpus.py - write the seed corpus of tests/fuzz/fuzz_volume.c.

    tools/make_volume_corpus.py [OUT_DIR]     (default tests/fuzz/corpus-volume)

Small synthetic NIfTI-1 (.nii, .nii.gz) and NRRD files, written byte by byte
from the format specifications (nifti1.h; teem.sourceforge.net/nrrd/
format.html) with the standard library only, so no reader's output is copied:
every element type, both byte orders, sform / qform / pixdim geometry,
scaling, extensions, gzip (one and two members), NRRD raw / gzip / ascii /
hex, line and byte skips, each space, 2D and 3D; plus a few files each
reader must refuse (NIfTI-2, a .hdr/.img pair, 5D, truncated, a detached NRRD
header).  Voxel k holds (k % 7) * 11 - 20 (uint8 and unsigned files: (k % 7)
* 11), which tests/fuzz/fuzz_volume.c's replay checks for a few seeds.
Files are rewritten identically on every run (gzip mtime 0).
"""
import gzip
import os
import struct
import sys

DT = {  # nifti1.h datatype codes and struct formats
    "uint8": (2, "B"), "int16": (4, "h"), "int32": (8, "i"),
    "float32": (16, "f"), "float64": (64, "d"), "int8": (256, "b"),
    "uint16": (512, "H"), "uint32": (768, "I"), "int64": (1024, "q"),
    "uint64": (1280, "Q"),
}


def values(count, unsigned):
    if unsigned:
        return [(k % 7) * 11 for k in range(count)]
    return [(k % 7) * 11 - 20 for k in range(count)]


def gz(data, members=1):
    """gzip with mtime 0 so the bytes are reproducible."""
    if members == 1:
        return gzip.compress(data, mtime=0)
    cut = len(data) // 2
    return gzip.compress(data[:cut], mtime=0) + gzip.compress(data[cut:],
                                                                mtime=0)


def nifti(dims, dtype, endian="<", geometry="sform", slope=0.0, inter=0.0,
          vox_offset=352, extension=b"", magic=b"n+1\0", ndim=None,
          extra_dims=(), sizeof_hdr=348, data=None):
    code, fmt = DT[dtype]
    h = bytearray(348)
    struct.pack_into(endian + "i", h, 0, sizeof_hdr)
    all_dims = list(dims) + list(extra_dims)
    dim = [ndim if ndim is not None else len(all_dims)] + all_dims
    dim += [1] * (8 - len(dim))
    struct.pack_into(endian + "8h", h, 40, *dim)
    struct.pack_into(endian + "h", h, 70, code)
    struct.pack_into(endian + "h", h, 72, struct.calcsize(fmt) * 8)
    qfac = -1.0 if geometry == "qform_flip" else 1.0
    struct.pack_into(endian + "8f", h, 76, qfac, 0.8, 0.7, 2.5, 1, 1, 1, 1)
    struct.pack_into(endian + "f", h, 108, float(vox_offset))
    struct.pack_into(endian + "ff", h, 112, slope, inter)
    struct.pack_into(endian + "h", h, 252, 1 if "qform" in geometry else 0)
    struct.pack_into(endian + "h", h, 254, 1 if geometry == "sform" else 0)
    # qform: a 30-degree rotation about z (b = c = 0, d = sin 15 deg).
    struct.pack_into(endian + "6f", h, 256, 0.0, 0.0, 0.258819, -100.5,
                     80.25, -40.0)
    # sform rows: slightly oblique, RAS.
    struct.pack_into(endian + "4f", h, 280, -0.8, 0.01, 0.0, 120.0)
    struct.pack_into(endian + "4f", h, 296, 0.0, -0.7, 0.02, 95.5)
    struct.pack_into(endian + "4f", h, 312, 0.0, 0.0, 2.5, -300.0)
    h[344:348] = magic
    body = bytes(h) + (b"\1\0\0\0" if extension else b"\0\0\0\0") + extension
    body += b"\0" * max(0, vox_offset - len(body))
    if data is None:
        count = 1
        for d in all_dims:
            count *= d
        data = struct.pack(endian + str(count) + fmt,
                           *values(count, fmt in "BHIQ"))
    return body + data


def nrrd(fields, data, magic="NRRD0004"):
    head = magic + "\n" + "".join(f"{k}: {v}\n" for k, v in fields) + "\n"
    return head.encode() + data


def raw(count, fmt, endian="<"):
    return struct.pack(endian + str(count) + fmt, *values(count, fmt in "BHIQ"))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        root, "tests", "fuzz", "corpus-volume")
    os.makedirs(out, exist_ok=True)
    files = {}

    # NIfTI-1: the seeds the replay test reads back.
    files["nifti_int16_le.nii"] = nifti((5, 4, 3), "int16")
    files["nifti_int16_be.nii"] = nifti((5, 4, 3), "int16", endian=">",
                                        geometry="qform")
    files["nifti_uint8.nii.gz"] = gz(nifti((6, 5, 4), "uint8"))
    files["nifti_float32_scaled.nii"] = nifti((4, 3, 2), "float32",
                                              slope=0.5, inter=0.25)
    # Every other element type, geometry and layout.
    for t in ("int8", "uint16", "int32", "uint32", "int64", "uint64",
              "float64"):
        files[f"nifti_{t}.nii"] = nifti((3, 3, 2), t, geometry="pixdim")
    files["nifti_qform_flip.nii"] = nifti((3, 2, 2), "int16",
                                          geometry="qform_flip")
    files["nifti_int16_be_sform.nii.gz"] = gz(
        nifti((4, 4, 4), "int16", endian=">"))
    files["nifti_two_members.nii.gz"] = gz(nifti((8, 6, 5), "int16"), 2)
    files["nifti_scaled_int16.nii"] = nifti((4, 4, 2), "int16", slope=1.0,
                                            inter=-1024.0)
    files["nifti_vox_offset_0.nii"] = nifti((3, 3, 1), "uint8",
                                            vox_offset=0)[:352] + raw(9, "B")
    ext = struct.pack("<ii", 16, 6) + b"fuzzext\0"
    files["nifti_extension.nii"] = nifti((3, 2, 2), "int16", vox_offset=368,
                                         extension=ext)
    files["nifti_1d.nii"] = nifti((7,), "int16")
    files["nifti_2d.nii.gz"] = gz(nifti((6, 5), "float32"))
    files["nifti_4d_t1.nii"] = nifti((3, 3, 2), "int16", extra_dims=(1,))
    # NIfTI that must be refused.
    files["nifti_5d.nii"] = nifti((2, 2, 2), "int16", extra_dims=(2, 2))
    files["nifti_pair.hdr"] = nifti((2, 2, 2), "int16", magic=b"ni1\0")[:348]
    files["nifti2_header.nii"] = nifti((2, 2, 2), "int16", sizeof_hdr=540)
    files["nifti_truncated.nii"] = nifti((9, 9, 9), "int16")[:600]
    files["nifti_truncated.nii.gz"] = gz(nifti((9, 9, 9), "int16"))[:200]
    files["nifti_bad_datatype.nii"] = nifti((2, 2, 2), "int16")[:70] + \
        struct.pack("<h", 128) + nifti((2, 2, 2), "int16")[72:]

    # NRRD with attached data.
    lps = [("type", "short"), ("dimension", "3"), ("space",
                                                  "left-posterior-superior"),
           ("sizes", "5 4 3"),
           ("space directions", "(0.8,0,0) (0,0.8,0) (0,0,2.5)"),
           ("kinds", "domain domain domain"), ("endian", "little"),
           ("encoding", "raw"), ("space origin", "(-100,-120.5,30)")]
    files["nrrd_short_raw.nrrd"] = nrrd(lps, raw(60, "h"))
    files["nrrd_gzip.nrrd"] = nrrd(
        [("type", "int16"), ("dimension", "3"),
         ("space", "right-anterior-superior"), ("sizes", "6 5 4"),
         ("space directions", "(-0.7,0,0) (0,-0.7,0.01) (0,0,1.25)"),
         ("endian", "little"), ("encoding", "gzip"),
         ("space origin", "(10,20,-30)")], gz(raw(120, "h")))
    files["nrrd_ascii_2d.nrrd"] = nrrd(
        [("type", "uchar"), ("dimension", "2"), ("sizes", "3 2"),
         ("encoding", "ascii")],
        b" ".join(str(v).encode() for v in values(6, True)) + b"\n")
    files["nrrd_hex.nrrd"] = nrrd(
        [("type", "ushort"), ("dimension", "3"), ("sizes", "2 2 2"),
         ("endian", "big"), ("encoding", "hex"), ("spacings", "0.5 0.5 2")],
        raw(8, "H", ">").hex().encode() + b"\n")
    files["nrrd_float_be.nrrd"] = nrrd(
        [("type", "float"), ("dimension", "3"), ("sizes", "3 2 2"),
         ("endian", "big"), ("encoding", "raw"), ("space", "LAS"),
         ("space directions", "(1,0,0) (0,1,0) (0,0,3)")],
        raw(12, "f", ">"))
    files["nrrd_double.nrrd"] = nrrd(
        [("type", "double"), ("dimension", "3"), ("sizes", "2 2 2"),
         ("encoding", "raw"), ("endian", "little")], raw(8, "d"))
    for t, f in (("int", "i"), ("uint", "I"), ("longlong", "q"),
                 ("ulonglong", "Q"), ("signed char", "b")):
        files[f"nrrd_{t.replace(' ', '_')}.nrrd"] = nrrd(
            [("type", t), ("dimension", "3"), ("sizes", "2 3 2"),
             ("encoding", "raw"), ("endian", "little")], raw(12, f))
    files["nrrd_skips.nrrd"] = nrrd(
        [("type", "short"), ("dimension", "3"), ("sizes", "2 2 2"),
         ("# a comment", "kept out"), ("content:=free text", "x"),
         ("line skip", "1"), ("byte skip", "3"), ("encoding", "raw"),
         ("endian", "little")], b"skipped line\nabc" + raw(8, "h"))
    files["nrrd_byte_skip_end.nrrd"] = nrrd(
        [("type", "short"), ("dimension", "3"), ("sizes", "2 2 2"),
         ("byte skip", "-1"), ("encoding", "raw"), ("endian", "little")],
        b"padding bytes" + raw(8, "h"))
    files["nrrd_scanner_xyz_v1.nrrd"] = nrrd(
        [("type", "short"), ("dimension", "3"), ("space", "scanner-xyz"),
         ("sizes", "2 2 1"),
         ("space directions", "(1,0,0) (0,1,0) (0,0,1)"),
         ("encoding", "raw"), ("endian", "little")], raw(4, "h"),
        magic="NRRD0001")
    files["nrrd_crlf.nrrd"] = (b"NRRD0004\r\ntype: short\r\ndimension: 2\r\n"
                               b"sizes: 2 2\r\nencoding: ascii\r\n\r\n"
                               b"1 2\r\n3 4\r\n")
    # NRRD that must be refused from memory or at all.
    files["nrrd_detached.nhdr"] = nrrd(
        [("type", "short"), ("dimension", "3"), ("sizes", "2 2 2"),
         ("data file", "volume.raw"), ("encoding", "raw")], b"")
    files["nrrd_bzip2.nrrd"] = nrrd(
        [("type", "short"), ("dimension", "3"), ("sizes", "2 2 2"),
         ("encoding", "bzip2")], b"BZh9")
    files["nrrd_vector.nrrd"] = nrrd(
        [("type", "float"), ("dimension", "3"), ("sizes", "3 2 2"),
         ("space dimension", "3"),
         ("space directions", "none (1,0,0) (0,1,0)"),
         ("encoding", "raw")], raw(12, "f"))
    files["nrrd_truncated_gzip.nrrd"] = files["nrrd_gzip.nrrd"][:-30]

    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(files)} files in {out}")


if __name__ == "__main__":
    main()
