#!/usr/bin/python3
"""End to end: `nova analyze` on a synthetic study, its result.json checked
for internal consistency (every derived number recomputed from the numbers
it derives from), its report rendered by headless Chromium and the
screenshot checked not to be blank, and its errors and exit codes.

Usage: test_report.py NOVA_EXE SOURCE_DIR   (prints TAP)
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

nova, source = sys.argv[1], sys.argv[2]
tmp = tempfile.mkdtemp(prefix="nova-report-")
cases = []


def case(name, ok, detail=""):
    cases.append((name, ok, detail))


def skip(name, why):
    cases.append((name, None, why))


def run(*args, **kw):
    return subprocess.run([nova, *args], capture_output=True, text=True,
                          timeout=600, **kw)


study = os.path.join(tmp, "study")
out = os.path.join(tmp, "out")
r = run("phantom", "-o", study, "--kind", "covid", "--seed", "5",
        "--size", "160", "--threads", "2")
case("phantom made", r.returncode == 0, r.stderr)
r = run("analyze", os.path.join(study, "dicom"), "-o", out, "--threads", "2")
case("analyze exits 0", r.returncode == 0, r.stderr + r.stdout)
case("summary names the report", "report.html" in r.stdout, r.stdout)

try:
    res = json.load(open(os.path.join(out, "result.json")))
except Exception as e:  # noqa: BLE001 - reported as a failed case
    res = None
    case("result.json parses", False, str(e))

if res:
    case("schema", res.get("schema") == "nova.result/1", res.get("schema"))
    m, lungs, les = res["measures"], res["lungs"], res["lesions"]
    case("lung volumes add up",
         abs(lungs["right"]["volume_ml"] + lungs["left"]["volume_ml"]
             - lungs["volume_ml"]) < 0.01,
         f'{lungs["right"]["volume_ml"]} + {lungs["left"]["volume_ml"]} '
         f'!= {lungs["volume_ml"]}')
    total = sum(x["volume_ml"] for x in les)
    case("lesion volumes add up to lesion_ml",
         abs(total - m["lesion_ml"]) <= 0.01 * max(1, len(les)),
         f"{total} vs {m['lesion_ml']}")
    case("PO = 100 x lesion / lung",
         abs(m["po"] - 100 * m["lesion_ml"] / m["lung_ml"]) < 0.01,
         f"{m['po']} vs {100 * m['lesion_ml'] / m['lung_ml']}")
    case("PHO <= PO", m["pho"] <= m["po"] + 1e-9, f"{m['pho']} > {m['po']}")
    zone_sum = sum(m[s]["zones"][t]["score"] for s in ("right", "left")
                   for t in ("upper", "middle", "lower"))
    case("severity = sum of six zone scores",
         zone_sum == m["severity_score"]["value"],
         f"{zone_sum} vs {m['severity_score']['value']}")

    def pan(p):  # Pan et al. 2020 bins
        return 0 if p <= 0 else 1 if p < 5 else 2 if p <= 25 else \
            3 if p < 50 else 4 if p <= 75 else 5
    bins_ok = all(pan(m[s]["zones"][t]["po"]) == m[s]["zones"][t]["score"]
                  for s in ("right", "left")
                  for t in ("upper", "middle", "lower"))
    case("zone scores follow Pan et al. bins", bins_ok)
    ids = [x["id"] for x in les]
    case("lesion ids 1..n by decreasing volume",
         ids == list(range(1, len(les) + 1)) and
         all(les[i]["volume_ml"] >= les[i + 1]["volume_ml"]
             for i in range(len(les) - 1)))
    probs = {1: 0.088, 2: 0.111, 3: 0.246, 4: 0.619, 5: 0.896}
    a = res["assessment"]
    case("probability is the model's value for the CO-RADS level",
         abs(a["probability"] - probs[a["co_rads"]]) < 1e-9,
         f"{a['co_rads']} -> {a['probability']}")
    hist = m["lung_hu_histogram"]["counts"]
    case("histogram has 113 bins", len(hist) == 113)
    for p in res["outputs"]["overlays"]:
        with open(p, "rb") as f:
            head = f.read(8)
        case(f"overlay {os.path.basename(p)} is a PNG",
             head == b"\x89PNG\r\n\x1a\n")

# The report in a real browser: headless Chromium takes a screenshot.
chromium = shutil.which("chromium")
html = os.path.join(out, "report.html")
if not chromium:
    skip("report renders in Chromium", "chromium is not installed")
elif not os.path.exists(html):
    case("report renders in Chromium", False, "no report.html")
else:
    shot = os.path.join(tmp, "shot.png")
    profile = os.path.join(tmp, "chromium-profile")
    cr = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}",
         "--window-size=1200,1800", f"--screenshot={shot}",
         "file://" + html],
        capture_output=True, text=True, timeout=120)
    if not os.path.exists(shot):
        case("report renders in Chromium", False, cr.stderr[-2000:])
    else:
        from PIL import Image  # Debian python3-pil
        img = Image.open(shot).convert("RGB")
        colours = img.getcolors(1 << 24) or []
        # A blank page is one or two colours; the report has text, tables,
        # CT images and a histogram.
        case("report renders in Chromium (screenshot not blank)",
             len(colours) > 200, f"{len(colours)} distinct colours")
        keep = os.environ.get("NOVA_KEEP_SCREENSHOT")
        if keep:
            shutil.copy(shot, keep)

# Errors: a path that is not there, and a usage error.
r = run("analyze", os.path.join(tmp, "no-such-folder"), "-o",
        os.path.join(tmp, "x"))
case("missing input: exit 1 naming the path",
     r.returncode == 1 and "no-such-folder" in r.stderr, r.stderr)
r = run("analyze")
case("no argument: exit 2", r.returncode == 2, str(r.returncode))

for i, (name, ok, detail) in enumerate(cases, 1):
    if ok is None:
        print(f"ok {i} - {name} # SKIP {detail}")
    elif ok:
        print(f"ok {i} - {name}")
    else:
        print(f"not ok {i} - {name}")
        for line in str(detail).splitlines()[-20:]:
            print(f"# {line}")
print(f"1..{len(cases)}")
shutil.rmtree(tmp, ignore_errors=True)
