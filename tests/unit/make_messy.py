#!/usr/bin/python3
"""make_messy.py - build messy DICOM exports with pydicom for
test_volume_dicom.c.  Usage: make_messy.py OUTDIR

Every image holds HU(x, y, k) = 7*k + x + 20*y - 500, k the slice's rank
along the normal, x the column and y the row (stored as uint16 with
intercept -1024, unless a scenario says otherwise), so the C test can check
every voxel without trusting any reader.  One folder per scenario:

  shuffled/    24 axial slices, random file names, shuffled instance
               numbers, a README.txt and a binary junk file; pixel (0,0)
               of each slice holds the Pixel Padding Value
  reversed/    instance numbers running against the positions
  mixed/       axial + localizer + coronal reformat, one series number and
               one Series Instance UID
  two_series/  5 mm soft kernel (20 slices) and 2.5 mm lung kernel (40)
  missing/     slice 10 of 24 removed
  duplicate/   slice 7 stored twice under two names
  uneven/      one gap of 3.2 mm among 2.5 mm gaps
  tilted/      10 degree gantry tilt (32x32 pixels, 1.25 mm table steps)
  enhanced/    one Enhanced CT file, 24 frames in shuffled order
  dicomdir/    the shuffled series with a DICOMDIR (pydicom FileSet)
  export.zip   the shuffled folder zipped
Exit 77 when pydicom or numpy is missing.
"""
import os
import random
import shutil
import sys
import zipfile

try:
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
except ImportError:
    sys.exit(77)

CT = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
RNG = random.Random(1234)
STUDY = generate_uid(entropy_srcs=["nova-messy-study"])
FRAME_OF_REFERENCE = generate_uid(entropy_srcs=["nova-messy-for"])


def hu(k, rows, cols):
    y, x = np.mgrid[0:rows, 0:cols]
    return 7 * k + x + 20 * y - 500


def base(sop_class, series_uid, series_number, image_type, rows, cols):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = STUDY
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.Modality = "CT"
    ds.PatientID = "MESSY1"
    ds.PatientName = "Messy^Export"
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = "A1"
    ds.ImageType = image_type
    ds.FrameOfReferenceUID = FRAME_OF_REFERENCE
    ds.Rows = rows
    ds.Columns = cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def ct_slice(series_uid, series_number, k, ipp, iop, rows=16, cols=16,
             spacing=(1.0, 1.0), thickness=2.5, kernel="B70f",
             image_type="ORIGINAL\\PRIMARY\\AXIAL", instance=None,
             padding=False, values=None):
    ds = base(CT, series_uid, series_number, image_type, rows, cols)
    ds.InstanceNumber = instance if instance is not None else k + 1
    ds.ImagePositionPatient = [f"{v:.6g}" for v in ipp]
    ds.ImageOrientationPatient = [f"{v:.6g}" for v in iop]
    ds.PixelSpacing = list(spacing)
    ds.SliceThickness = thickness
    ds.ConvolutionKernel = kernel
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024
    v = hu(k, rows, cols) if values is None else values
    stored = (v + 1024).astype(np.uint16)
    if padding:
        ds.PixelPaddingValue = 0
        stored[0, 0] = 0
    ds.PixelData = stored.tobytes()
    return ds


AXIAL = (1, 0, 0, 0, 1, 0)


def axial_series(n=24, dz=2.5, z0=-30.0, kernel="B70f", number=2, uid=None,
                 padding=False):
    uid = uid or generate_uid()
    return [ct_slice(uid, number, k, (-8.0, -8.0, z0 + k * dz), AXIAL,
                     kernel=kernel, thickness=dz, padding=padding)
            for k in range(n)], uid


def save_all(folder, slices, names=None):
    os.makedirs(folder, exist_ok=True)
    for i, ds in enumerate(slices):
        name = names[i] if names else f"IM{i:04d}.dcm"
        ds.save_as(os.path.join(folder, name), write_like_original=False)


def random_names(n):
    return ["%08x" % RNG.getrandbits(32) for _ in range(n)]


def main():
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)

    # shuffled: random order, random names, shuffled instance numbers.
    s, _ = axial_series(padding=True)
    inst = list(range(1, len(s) + 1))
    RNG.shuffle(inst)
    for ds, i in zip(s, inst):
        ds.InstanceNumber = i
    order = list(range(len(s)))
    RNG.shuffle(order)
    save_all(f"{out}/shuffled", [s[i] for i in order], random_names(len(s)))
    with open(f"{out}/shuffled/README.txt", "w") as f:
        f.write("not DICOM\n")
    with open(f"{out}/shuffled/junk.bin", "wb") as f:
        f.write(bytes(RNG.getrandbits(8) for _ in range(1000)))

    # reversed: instance numbers against positions.
    s, _ = axial_series()
    for k, ds in enumerate(s):
        ds.InstanceNumber = len(s) - k
    save_all(f"{out}/reversed", s)

    # mixed: one series number and UID holding three stacks.
    s, uid = axial_series(number=3)
    loc = ct_slice(uid, 3, 0, (-8.0, 0.0, -40.0), (1, 0, 0, 0, 0, -1),
                   rows=16, cols=16, image_type="ORIGINAL\\PRIMARY\\LOCALIZER")
    cor = [ct_slice(uid, 3, k, (-8.0, -8.0 + k * 1.0, 30.0),
                    (1, 0, 0, 0, 0, -1), rows=16, cols=16,
                    image_type="DERIVED\\SECONDARY\\REFORMATTED")
           for k in range(24)]
    save_all(f"{out}/mixed", s + [loc] + cor)

    # two series: thick soft and thin lung, same coverage.
    thick, _ = axial_series(n=20, dz=5.0, z0=-30.0, kernel="B30f", number=2)
    thin, _ = axial_series(n=40, dz=2.5, z0=-30.0, kernel="B70f", number=4)
    save_all(f"{out}/two_series", thick + thin,
             [f"A{i:03d}" for i in range(60)])

    # missing slice 10.
    s, _ = axial_series()
    save_all(f"{out}/missing", s[:10] + s[11:])

    # duplicated slice 7 (a second file, its own SOP Instance UID).
    s, _ = axial_series()
    dup = ct_slice(s[7].SeriesInstanceUID, 2, 7, (-8.0, -8.0, -30.0 + 7 * 2.5),
                   AXIAL)
    save_all(f"{out}/duplicate", s + [dup])

    # uneven: the gap after slice 11 is 3.2 mm instead of 2.5.
    uid = generate_uid()
    z = [-30.0 + 2.5 * k + (0.7 if k >= 12 else 0.0) for k in range(24)]
    s = [ct_slice(uid, 2, k, (-8.0, -8.0, z[k]), AXIAL) for k in range(24)]
    save_all(f"{out}/uneven", s)

    # tilted: 10 degrees about the x axis, table steps of 1.25 mm.
    t = np.radians(10.0)
    iop = (1, 0, 0, 0, np.cos(t), -np.sin(t))
    uid = generate_uid()
    s = []
    for k in range(20):
        ds = ct_slice(uid, 2, k, (-16.0, -16.0, -10.0 + 1.25 * k), iop,
                      rows=32, cols=32, thickness=1.25)
        ds.GantryDetectorTilt = 10.0
        s.append(ds)
    save_all(f"{out}/tilted", s)

    # Enhanced CT: 24 frames, per-frame positions, shuffled frame order.
    n, rows, cols = 24, 16, 16
    ds = base(ENHANCED_CT, generate_uid(), 5, "ORIGINAL\\PRIMARY\\AXIAL",
              rows, cols)
    ds.NumberOfFrames = n
    ds.InstanceNumber = 1
    order = list(range(n))
    RNG.shuffle(order)
    shared = Dataset()
    po = Dataset()
    po.ImageOrientationPatient = list(AXIAL)
    shared.PlaneOrientationSequence = Sequence([po])
    pm = Dataset()
    pm.PixelSpacing = [1.0, 1.0]
    pm.SliceThickness = 2.5
    shared.PixelMeasuresSequence = Sequence([pm])
    pv = Dataset()
    pv.RescaleSlope = 1
    pv.RescaleIntercept = -1024
    pv.RescaleType = "HU"
    shared.PixelValueTransformationSequence = Sequence([pv])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames, per_frame = [], []
    for k in order:
        fg = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [-8.0, -8.0, -30.0 + 2.5 * k]
        fg.PlanePositionSequence = Sequence([pp])
        ft = Dataset()
        ft.FrameType = "ORIGINAL\\PRIMARY\\AXIAL\\NONE"
        fg.CTImageFrameTypeSequence = Sequence([ft])
        per_frame.append(fg)
        frames.append((hu(k, rows, cols) + 1024).astype(np.uint16))
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    ds.PixelData = np.stack(frames).tobytes()
    save_all(f"{out}/enhanced", [ds], ["enhanced.dcm"])

    # DICOMDIR over a copy of the shuffled series.
    try:
        from pydicom.fileset import FileSet
        fs = FileSet()
        for name in sorted(os.listdir(f"{out}/shuffled")):
            p = f"{out}/shuffled/{name}"
            try:
                fs.add(pydicom.dcmread(p))
            except pydicom.errors.InvalidDicomError:
                pass
        os.makedirs(f"{out}/dicomdir")
        fs.write(f"{out}/dicomdir")
    except Exception as e:  # pydicom without FileSet
        print("no DICOMDIR:", e, file=sys.stderr)

    # zip of the shuffled folder.
    with zipfile.ZipFile(f"{out}/export.zip", "w",
                         zipfile.ZIP_DEFLATED) as z:
        for name in sorted(os.listdir(f"{out}/shuffled")):
            z.write(f"{out}/shuffled/{name}", f"export/{name}")


if __name__ == "__main__":
    main()
