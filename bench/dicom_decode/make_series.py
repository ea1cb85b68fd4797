#!/usr/bin/python3
"""make_series.py SRC_DIR OUT_DIR [N] - the DICOM decode benchmark's series.

Reads the real 512x512 16-bit CT slices of SRC_DIR (the 20 Siemens JPEG 2000
slices of chest-ct/totalseg-example/dicom), decodes them with pydicom's
GDCM handler and writes N (default 500) uncompressed explicit VR little
endian files, cycling through the slices, each with new SOP Instance /
Series UIDs, Instance Number and Image Position (Patient), so every file
is a full vendor header plus real CT pixels.  Needs Debian's python3 with
pydicom, numpy and python3-gdcm.
"""
import os
import sys

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def main():
    src, out = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 500
    os.makedirs(out, exist_ok=True)
    slices = []
    for name in sorted(os.listdir(src)):
        ds = pydicom.dcmread(os.path.join(src, name))
        if ds.file_meta.TransferSyntaxUID.is_compressed:
            ds.decompress(handler_name="gdcm")
        slices.append(ds)
    series = generate_uid()
    for k in range(n):
        ds = slices[k % len(slices)]
        # The example is anonymised without a SOP Class UID; GDCM refuses to
        # write such files, so give it the CT Image Storage class it is.
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.InstanceNumber = k + 1
        pos = list(ds.ImagePositionPatient)
        ds.ImagePositionPatient = [pos[0], pos[1], -500.0 + 2.0 * k]
        ds.save_as(os.path.join(out, "ct%04d.dcm" % k),
                   write_like_original=False)
    print("%d files in %s" % (n, out))


if __name__ == "__main__":
    main()
