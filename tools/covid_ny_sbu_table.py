#!/usr/bin/python3
"""Run `nova analyze` on every axial slice of ../shared/data/chest-ct/
covid-ny-sbu (TCIA COVID-19-NY-SBU, Saltz et al.) and print a markdown table
of lesion percentage per patient and time point, with the overlay PNGs.

Usage: tools/covid_ny_sbu_table.py NOVA_EXE OUT_DIR [DATA_DIR]
"""
import glob
import json
import os
import subprocess
import sys

nova, out = sys.argv[1], sys.argv[2]
data = sys.argv[3] if len(sys.argv) > 3 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data",
    "chest-ct", "covid-ny-sbu")
rows = []
for path in sorted(glob.glob(os.path.join(data, "*", "axial", "*.dcm"))):
    patient = path.split(os.sep)[-3]
    when = os.path.basename(path)[:-4]
    dest = os.path.join(out, patient, when)
    r = subprocess.run([nova, "analyze", path, "-o", dest, "-q"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        rows.append((patient, when, "error: " + r.stderr.strip(), "", "", "", ""))
        continue
    res = json.load(open(os.path.join(dest, "result.json")))
    m, a = res["measures"], res["assessment"]
    rows.append((patient, when, f'{m["po"]:.1f}', f'{m["pho"]:.1f}',
                 f'{m["ggo_ml"]:.1f} / {m["consolidation_ml"]:.1f}',
                 f'{a["category"]}, CO-RADS {a["co_rads"]}',
                 res["outputs"]["overlays"][0]))
print("| patient | slice (date-number) | PO % | PHO % | GGO / consolidation ml (slice) | category | overlay |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
