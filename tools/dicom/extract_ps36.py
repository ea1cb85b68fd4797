#!/usr/bin/python3
"""Write ps3.6-elements.tsv: the data elements of DICOM PS3.6 (tag, VR, VM,
keyword, name, retired), one per line.

The facts come from PS3.6's registry of data elements.  This script reads
them from the copy of the registry that Debian's python3-pydicom carries
(pydicom._dicom_dict, itself generated from the standard's DocBook) and is
run by hand when the standard is updated; the TSV is checked in and turned
into C at build time by gen_dict.py.  Only facts are taken, no code.
"""
import sys
from pydicom._dicom_dict import DicomDictionary, RepeatersDictionary

rows = []
for tag, (vr, vm, name, retired, keyword) in DicomDictionary.items():
    rows.append((f"{tag >> 16:04X}{tag & 0xFFFF:04X}", vr, vm, keyword, name,
                 "R" if retired else ""))
for mask, (vr, vm, name, retired, keyword) in RepeatersDictionary.items():
    rows.append((mask.upper().replace("X", "x"), vr, vm, keyword, name,
                 "R" if retired else ""))
rows.sort()
out = open(sys.argv[1] if len(sys.argv) > 1 else "ps3.6-elements.tsv", "w")
out.write("# DICOM PS3.6 data element registry: tag\tVR\tVM\tkeyword\tname\tretired\n")
for r in rows:
    if not r[3]:
        continue  # elements without a keyword (e.g. group lengths listed only by name)
    out.write("\t".join(r) + "\n")
