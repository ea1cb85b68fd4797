#!/usr/bin/env python3
"""make_radiomics_corpus.py - write the seed corpus of tests/fuzz/fuzz_radiomics.c.

    tools/make_radiomics_corpus.py [OUT_DIR]   (default tests/fuzz/corpus-radiomics)

Every seed is one selector byte followed by the file (see fuzz_radiomics.c):
selector % 4 picks the reader (0 configuration text, 1 RTSTRUCT, 2 SEG,
3 nova_radiomics_dicom_mask) and (selector >> 2) % 4 the ROI / segment number
(0: all).  The DICOM files are small synthetic RT Structure Sets and
Segmentations built with pydicom on the fuzz target's fixed image grid
(16 x 12 x 4 voxels, spacing 0.5 0.5 2 mm, origin -4 -3 -3, identity
direction), so they rasterise to masks whose voxel counts the replay test
asserts (the counts are given next to each file below).  The configuration
seeds are written here too, not copied from configs/radiomics.  Nothing is
read from ../shared/data.  Files are rewritten identically on every run
(fixed UIDs, no dates).

Needs pydicom and numpy (Debian: /usr/bin/python3 with python3-pydicom).
"""
import io
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         ExplicitVRBigEndian, RLELossless)

# The fuzz target's image grid (keep in sync with fuzz_radiomics.c).
DIMS = (16, 12, 4)           # i (columns), j (rows), k (slices)
SPACING = (0.5, 0.5, 2.0)
ORIGIN = (-4.0, -3.0, -3.0)

RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
UID_ROOT = "1.2.826.0.1.3680043.10.1234."


def world(i, j, k):
    """LPS mm of continuous voxel index (i, j, k) on the grid."""
    return [ORIGIN[0] + SPACING[0] * i, ORIGIN[1] + SPACING[1] * j,
            ORIGIN[2] + SPACING[2] * k]


def base(modality, sop_class, n, syntax=ExplicitVRLittleEndian):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID_ROOT + str(n)
    meta.TransferSyntaxUID = syntax
    meta.ImplementationClassUID = UID_ROOT + "0"
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.is_little_endian = syntax != ExplicitVRBigEndian
    ds.is_implicit_VR = syntax == ImplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = UID_ROOT + str(n)
    ds.Modality = modality
    ds.PatientName = "Fuzz^Seed"
    ds.PatientID = "FUZZ"
    ds.StudyInstanceUID = UID_ROOT + "100"
    ds.SeriesInstanceUID = UID_ROOT + "200." + str(n)
    ds.FrameOfReferenceUID = UID_ROOT + "300"
    return ds


def to_bytes(ds):
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, write_like_original=False)
    return buf.getvalue()


def contour(points_ijk, kind="CLOSED_PLANAR"):
    item = Dataset()
    item.ContourGeometricType = kind
    item.NumberOfContourPoints = len(points_ijk)
    data = []
    for p in points_ijk:
        data += world(*p)
    item.ContourData = [f"{v:g}" for v in data]
    return item


def rect(i0, i1, j0, j1, k):
    """A closed rectangle through continuous indices (corners)."""
    return [(i0, j0, k), (i1, j0, k), (i1, j1, k), (i0, j1, k)]


def rtstruct(n, rois, syntax=ExplicitVRLittleEndian):
    """rois: {number: [contour items]}"""
    ds = base("RTSTRUCT", RTSTRUCT_CLASS, n, syntax)
    ds.StructureSetLabel = "fuzz"
    ds.StructureSetROISequence = Sequence()
    ds.ROIContourSequence = Sequence()
    for number, items in rois.items():
        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = ds.FrameOfReferenceUID
        roi.ROIName = f"roi{number}"
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        rc = Dataset()
        rc.ReferencedROINumber = number
        rc.ROIDisplayColor = [255, 0, 0]
        rc.ContourSequence = Sequence(items)
        ds.ROIContourSequence.append(rc)
    return to_bytes(ds)


def seg(n, frames, rows=DIMS[1], cols=DIMS[0], fractional=False,
        syntax=ExplicitVRLittleEndian, shared_geometry=True):
    """frames: list of (segment, (i0, j0, k) of the frame's first pixel,
    2D uint8 array rows x cols)."""
    ds = base("SEG", SEG_CLASS, n, syntax)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.NumberOfFrames = len(frames)
    ds.BitsAllocated = 8 if fractional else 1
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsAllocated - 1
    ds.PixelRepresentation = 0
    ds.SegmentationType = "FRACTIONAL" if fractional else "BINARY"
    if fractional:
        ds.SegmentationFractionalType = "PROBABILITY"
        ds.MaximumFractionalValue = 255
    ds.SegmentSequence = Sequence()
    for number in sorted({f[0] for f in frames}):
        s = Dataset()
        s.SegmentNumber = number
        s.SegmentLabel = f"segment{number}"
        s.SegmentAlgorithmType = "MANUAL"
        ds.SegmentSequence.append(s)
    orientation = Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures = Dataset()
    measures.PixelSpacing = [SPACING[1], SPACING[0]]  # row, column spacing
    measures.SliceThickness = SPACING[2]
    shared = Dataset()
    if shared_geometry:
        shared.PlaneOrientationSequence = Sequence([orientation])
        shared.PixelMeasuresSequence = Sequence([measures])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for number, (i0, j0, k), _ in frames:
        fg = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [f"{v:g}" for v in world(i0, j0, k)]
        fg.PlanePositionSequence = Sequence([pos])
        sid = Dataset()
        sid.ReferencedSegmentNumber = number
        fg.SegmentIdentificationSequence = Sequence([sid])
        if not shared_geometry:
            fg.PlaneOrientationSequence = Sequence([orientation])
            fg.PixelMeasuresSequence = Sequence([measures])
        per_frame.append(fg)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    pixels = np.stack([f[2] for f in frames]).astype(np.uint8)
    if fractional:
        data = pixels.tobytes()
    else:
        # PS3.5 8.1.1: 1-bit frames are packed with no padding between
        # them, least significant bit first.
        data = np.packbits(pixels.reshape(-1), bitorder="little").tobytes()
    if len(data) % 2:
        data += b"\0"
    ds.PixelData = data
    ds["PixelData"].VR = "OB"
    if syntax == RLELossless:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        # pydicom wants (rows, cols) for a single frame.
        arr = pixels[0] if len(frames) == 1 else pixels
        ds.compress(RLELossless, arr)
    return to_bytes(ds)


def box(rows, cols, i0, i1, j0, j1, value=1):
    a = np.zeros((rows, cols), np.uint8)
    a[j0:j1 + 1, i0:i1 + 1] = value
    return a


CONFIGS = {
    "config_full.conf": """# every key
name = fuzz full
texture = 3d
interpolation = linear
spacing_mm = 2 2 2
intensity_rounding = yes
mask_partial_volume = 0.5
resegmentation_range = -1000 400
outlier_sigma = 0
discretisation = fbs 25
ivh_discretisation = none
glcm_distance = 1
ngtdm_distance = 1
ngldm_distance = 1
ngldm_alpha = 0
spatial_max_voxels = 0
""",
    "config_2d_fbn.conf": """name = two d
texture = 2d
interpolation = cubic
spacing_mm = 1 1 0   # in plane only
discretisation = fbn 32
ivh_discretisation = fbs 2.5
resegmentation_range = -inf inf
outlier_sigma = 3
spatial_max_voxels = 1000
""",
    "config_crlf.conf": "texture = all\r\n\r\ninterpolation = none\r\n"
                        "intensity_rounding = false\r\n"
                        "resegmentation_range = none\r\n",
    "config_empty.conf": "# nothing but a comment\n\n",
    "config_unknown_key.conf": "name = x\nbin_size = 25\n",
    "config_bad_value.conf": "glcm_distance = 65\n",
    "config_no_equals.conf": "texture 3d\n",
    "config_fbs_no_width.conf": "discretisation = fbs\n",
}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        root, "tests", "fuzz", "corpus-radiomics")
    os.makedirs(out, exist_ok=True)
    files = {}
    for name, text in CONFIGS.items():
        files[name] = b"\x00" + text.encode()

    # RTSTRUCT.  ROI 1: a rectangle on slice 1 through i 2.5..8.5, j
    # 3.5..7.5: centres i 3..8, j 4..7, 24 voxels.  ROI 2 on slice 2: i
    # 0.5..10.5 x j 0.5..8.5 (80 voxels) less a hole i 3.5..6.5 x j
    # 3.5..5.5 (6 voxels): 74.  All ROIs: 98.
    roi1 = [contour(rect(2.5, 8.5, 3.5, 7.5, 1))]
    roi2 = [contour(rect(0.5, 10.5, 0.5, 8.5, 2)),
            contour(rect(3.5, 6.5, 3.5, 5.5, 2)),
            contour([(1, 1, 2), (5, 5, 2)], "OPEN_PLANAR"),
            contour([(2, 2, 2)], "POINT")]
    two = rtstruct(1, {1: roi1, 2: roi2})
    files["rtstruct_two_rois_all.dcm"] = b"\x01" + two       # 98
    files["rtstruct_two_rois_roi1.dcm"] = b"\x05" + two      # 24
    files["rtstruct_two_rois_roi2.dcm"] = b"\x09" + two      # 74
    files["rtstruct_roi3_absent.dcm"] = b"\x0d" + two        # error
    files["rtstruct_via_dicom_mask.dcm"] = b"\x03" + two     # 98
    files["rtstruct_implicit_vr.dcm"] = b"\x05" + rtstruct(
        2, {1: roi1}, ImplicitVRLittleEndian)                # 24
    files["rtstruct_big_endian.dcm"] = b"\x05" + rtstruct(
        3, {1: roi1}, ExplicitVRBigEndian)                   # 24
    # A triangle whose corners are off the voxel centres, on slice 3.
    tri = [contour([(1.2, 0.7, 3), (12.8, 2.3, 3), (6.1, 10.9, 3)])]
    files["rtstruct_triangle.dcm"] = b"\x01" + rtstruct(4, {7: tri})
    # Contours beyond the last slice and before the first: no voxel, an
    # "empty mask" error.
    off = [contour(rect(1, 5, 1, 5, 9)),
           contour([(1, 1, -2.4), (5, 1, -2.6), (5, 5, -2.5)])]
    files["rtstruct_off_grid.dcm"] = b"\x01" + rtstruct(5, {1: off})
    bad = Dataset()
    bad.ContourGeometricType = "CLOSED_PLANAR"
    bad.NumberOfContourPoints = 2
    bad.ContourData = ["1", "2", "3", "4", "5"]
    files["rtstruct_bad_contour_data.dcm"] = b"\x01" + rtstruct(6, {1: [bad]})

    # SEG on the image grid.  Segment 1 on slice 0: i 2..5 x j 2..4 (12
    # voxels); segment 2 on slice 2: i 8..12 x j 6..9 (20).  All: 32.
    R, C = DIMS[1], DIMS[0]
    grid = [(1, (0, 0, 0), box(R, C, 2, 5, 2, 4)),
            (2, (0, 0, 2), box(R, C, 8, 12, 6, 9))]
    binary = seg(10, grid)
    files["seg_binary_all.dcm"] = b"\x02" + binary           # 32
    files["seg_binary_segment1.dcm"] = b"\x06" + binary      # 12
    files["seg_binary_segment2.dcm"] = b"\x0a" + binary      # 20
    files["seg_segment3_absent.dcm"] = b"\x0e" + binary      # error
    files["seg_via_dicom_mask.dcm"] = b"\x07" + binary       # 12
    files["seg_binary_per_frame_geometry.dcm"] = b"\x02" + seg(
        11, grid, shared_geometry=False)                     # 32
    # 5 x 5 frames (25 bits: the second frame starts mid-byte) placed at
    # i 3, j 4 on slices 1 and 3; a plus sign in each: 2 x 9 = 18 voxels.
    plus = np.zeros((5, 5), np.uint8)
    plus[2, :] = 1
    plus[:, 2] = 1
    files["seg_binary_small_frames.dcm"] = b"\x02" + seg(
        12, [(1, (3, 4, 1), plus), (1, (3, 4, 3), plus)], rows=5, cols=5)
    # FRACTIONAL, max 255: pixels 128 and above count.  A 4 x 3 block of
    # 200 and a 4 x 3 block of 100 on slice 1: 12 voxels.
    frac = box(R, C, 1, 4, 1, 3, 200) + box(R, C, 9, 12, 5, 7, 100)
    files["seg_fractional.dcm"] = b"\x02" + seg(
        13, [(1, (0, 0, 1), frac)], fractional=True)         # 12
    try:
        files["seg_fractional_rle.dcm"] = b"\x02" + seg(
            14, [(1, (0, 0, 1), frac)], fractional=True,
            syntax=RLELossless)                              # 12
        # Two RLE frames (Basic Offset Table) on slices 0 and 3, 12 + 12.
        files["seg_fractional_rle_two_frames.dcm"] = b"\x02" + seg(
            16, [(1, (0, 0, 0), frac), (1, (0, 0, 3), frac)],
            fractional=True, syntax=RLELossless)             # 24
    except Exception as e:  # pydicom without its RLE encoder
        print(f"make_radiomics_corpus: no RLE seed ({e})", file=sys.stderr)
    # Half a voxel off the grid: refused, naming the frame.
    shifted = seg(15, [(1, (0.5, 0, 0), box(R, C, 2, 5, 2, 4))])
    files["seg_off_grid.dcm"] = b"\x02" + shifted
    # 16-bit pixels: neither BINARY nor FRACTIONAL, refused.
    sixteen = pydicom.dcmread(io.BytesIO(binary))
    sixteen.BitsAllocated = sixteen.BitsStored = 16
    sixteen.HighBit = 15
    sixteen.PixelData = bytes(2 * R * C * 2)
    sixteen["PixelData"].VR = "OW"
    files["seg_16_bit_unsupported.dcm"] = b"\x02" + to_bytes(sixteen)
    # Not a mask: an RTSTRUCT to the SEG reader and the other way round.
    files["seg_reader_given_rtstruct.dcm"] = b"\x02" + two
    files["rtstruct_reader_given_seg.dcm"] = b"\x01" + binary

    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"make_radiomics_corpus: {len(files)} files in {out}")


if __name__ == "__main__":
    main()
