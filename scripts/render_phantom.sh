#!/usr/bin/env bash
# Render `nova phantom` studies as PNG pictures, to judge their realism.
#
#   scripts/render_phantom.sh [BUILD_DIR] [OUT_DIR] [SIZE]
#
# For each kind (normal, covid, bacterial, nodules) it writes a study with
# `nova phantom` (seed 1, default size 512x512x320), then reads the DICOM
# series back with pydicom (so the pictures show what was written) and saves
# OUT_DIR/<kind>-axial.png (three levels in a lung window W1500 L-600: the
# levels of the three largest lesions, or upper, middle and lower lung for
# `normal`; and the middle one in a mediastinal window W400 L40) and
# OUT_DIR/<kind>-coronal.png (lung window, through the largest lesion, or
# 15 mm behind the centre).  PNGs are
# written by Pillow (Debian python3-pil).  Default OUT_DIR:
# bench/results/phantom-png (not committed).  With the shared data present
# it also renders a lesion insertion into a real scan (see the end).
set -euo pipefail
build=${1:-build}
out=${2:-bench/results/phantom-png}
size=${3:-512x512x320}
nova="$build/src/app/nova/nova"
[ -x "$nova" ] || { echo "render_phantom: $nova not built" >&2; exit 1; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for kind in normal covid bacterial nodules; do
  "$nova" phantom -o "$work/$kind" --kind "$kind" --seed 1 --size "$size" -q
  /usr/bin/python3 - "$work/$kind" "$out" "$kind" <<'PY'
import glob, json, sys
import numpy, pydicom
from PIL import Image
study, out, kind = sys.argv[1:4]
files = [pydicom.dcmread(f) for f in glob.glob(study + "/dicom/*.dcm")]
files.sort(key=lambda d: float(d.ImagePositionPatient[2]))
vol = numpy.stack([d.pixel_array.astype(numpy.int16) * int(d.RescaleSlope)
                   + int(d.RescaleIntercept) for d in files])  # z, y, x
sx = float(files[0].PixelSpacing[1])
sz = float(files[1].ImagePositionPatient[2]) - float(files[0].ImagePositionPatient[2])
def win(a, level, width):
    return (numpy.clip((a - (level - width / 2)) / width, 0, 1) * 255).astype(numpy.uint8)
nz = vol.shape[0]
levels = [int(nz * f) for f in (0.72, 0.55, 0.38)]
# With lesions, show the levels through the largest ones (truth.json).
truth = json.load(open(study + "/truth.json"))
z0 = float(files[0].ImagePositionPatient[2])
y0 = float(files[0].ImagePositionPatient[1])
big = sorted(truth["lesions"], key=lambda l: -l["voxels"])[:3]
for i, les in enumerate(big):
    levels[i] = int(round((les["center_mm"][2] - z0) / sz))
levels = sorted(min(max(k, 0), nz - 1) for k in levels)[::-1]
tiles = [win(vol[k], -600, 1500) for k in levels] + [win(vol[levels[1]], 40, 400)]
Image.fromarray(numpy.concatenate(tiles, axis=1)).save(f"{out}/{kind}-axial.png")
row = vol.shape[1] // 2 + int(15 / sx)  # 15 mm behind the centre
if big:
    row = int(round((big[0]["center_mm"][1] - y0) / sx))
cor = vol[::-1, min(max(row, 0), vol.shape[1] - 1), :]
h = int(round(cor.shape[0] * sz / sx))
Image.fromarray(win(cor, -600, 1500)).resize((cor.shape[1], h), Image.BILINEAR).save(
    f"{out}/{kind}-coronal.png")
print(f"{out}/{kind}-axial.png {out}/{kind}-coronal.png")
PY
done

# Lesion insertion into a real scan (shared data cip-ct64, when present):
# OUT_DIR/insert-cip64-ggo-axial.png, before and after, on the slice the
# insertion changed most (nearest-neighbour upscaled x4: the scan is 64x64).
data=${NOVA_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data}
cip="$data/chest-ct/cip-ct64/dicom"
if [ -d "$cip" ]; then
  "$nova" phantom insert --into "$cip" -o "$work/insert" --lesions 4 \
    --radius 18 --seed 1 -q
  /usr/bin/python3 - "$cip" "$work/insert/dicom" "$out" <<'PY'
import glob, sys
import numpy, pydicom
from PIL import Image
def load(d):
    fs = [pydicom.dcmread(f) for f in glob.glob(d + "/*")]
    fs.sort(key=lambda x: float(x.ImagePositionPatient[2]))
    return numpy.stack([f.pixel_array * float(f.RescaleSlope) + float(f.RescaleIntercept) for f in fs])
a, b = load(sys.argv[1]), load(sys.argv[2])
k = int(numpy.argmax((a != b).sum(axis=(1, 2))))
def win(x):
    return (numpy.clip((x + 1350) / 1500, 0, 1) * 255).astype(numpy.uint8)
img = Image.fromarray(numpy.concatenate([win(a[k]), win(b[k])], axis=1))
img.resize((img.width * 4, img.height * 4), Image.NEAREST).save(sys.argv[3] + "/insert-cip64-ggo-axial.png")
print(sys.argv[3] + "/insert-cip64-ggo-axial.png")
PY
fi
