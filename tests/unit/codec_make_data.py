#!/usr/bin/python3
"""codec_make_data.py DATA_DIR OUT_DIR - test data for tests/unit/test_codec.c.

Takes a few real CT slices from DATA_DIR/chest-ct (plus 8-bit, RGB and
full-range 16-bit images derived from them), compresses each with
independent encoders (DCMTK dcmcjpeg / dcmcjpls / dcmcrle, GDCM gdcmconv
--j2k), decompresses every compressed copy again with the independent
decoder (dcmdjpeg / dcmdjpls / dcmdrle / gdcmconv --raw) and writes, per
case, the compressed frame bytes (PS3.5 A.4 fragments of frame 0,
concatenated) and the reference samples (interleaved, little endian, as
stored) plus a line in OUT_DIR/manifest.txt:

  name ts_uid rows cols spp bits_alloc bits_stored pixel_rep planar
  photometric out_photometric frame_file ref_file orig_file tolerance

The C test decodes frame_file with Nova and compares it with ref_file (the
independent decoder) within `tolerance`, and for lossless cases also with
orig_file (the image before compression), exactly.

Exit status 77 when tools or data are missing (the test then skips).
Needs Debian's /usr/bin/python3 with pydicom and numpy.
"""
import concurrent.futures
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
    import pydicom
    from pydicom.encaps import generate_pixel_data_frame
    from pydicom.uid import ExplicitVRLittleEndian
except ImportError as e:
    print("missing python module: %s" % e)
    sys.exit(77)

TOOLS = ["dcmcjpeg", "dcmdjpeg", "dcmcjpls", "dcmdjpls", "dcmcrle", "dcmdrle",
         "dcmconv", "gdcmconv"]


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def to_explicit(src, dst):
    """Uncompressed explicit VR little endian copy of src (any syntax)."""
    tmp = dst + ".raw.dcm"
    try:
        run("gdcmconv", "--raw", "-i", src, "-o", tmp)
    except subprocess.CalledProcessError:
        # gdcmconv refuses to write some vendor files (missing attributes);
        # pydicom's GDCM handler decodes them instead.
        ds = pydicom.dcmread(src)
        ds.decompress(handler_name="gdcm")
        ds.save_as(tmp, write_like_original=False)
    run("dcmconv", "+te", tmp, dst)
    os.remove(tmp)
    ds = pydicom.dcmread(dst)
    if not ds.get("SOPClassUID"):
        # An anonymised example without SOP Class UID: GDCM refuses to
        # write it, so give it the CT Image Storage class it is.
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.save_as(dst, write_like_original=False)


def samples(ds):
    """The stored samples of an uncompressed dataset, interleaved, as the
    raw little endian bytes (no masking: the C side masks)."""
    ba = ds.BitsAllocated
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}[ba]
    arr = np.frombuffer(ds.PixelData, dtype=dtype)
    spp = ds.SamplesPerPixel
    n = ds.Rows * ds.Columns * spp
    arr = arr[:n]
    if spp > 1 and getattr(ds, "PlanarConfiguration", 0) == 1:
        arr = arr.reshape(spp, ds.Rows * ds.Columns).T.reshape(-1)
    return arr.astype(arr.dtype.newbyteorder("<")).tobytes()


def frame0(ds):
    return next(generate_pixel_data_frame(ds.PixelData, 1))


def derive(base_path, out_path, kind):
    """Make a derived uncompressed image from a 16-bit CT slice."""
    ds = pydicom.dcmread(base_path)
    arr = np.frombuffer(ds.PixelData, dtype=np.uint16)[: ds.Rows * ds.Columns]
    arr = arr.reshape(ds.Rows, ds.Columns).astype(np.int64)
    if kind == "u8":
        img = np.clip((arr - arr.min()) * 255 // max(1, arr.max() - arr.min()),
                      0, 255).astype(np.uint8)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelRepresentation = 0
        ds.PixelData = img.tobytes()
    elif kind == "rgb":
        lo, hi = arr.min(), arr.max()
        span = max(1, hi - lo)
        r = np.clip((arr - lo) * 255 // span, 0, 255)
        g = np.clip((arr - lo) * 512 // span - 128, 0, 255)
        b = np.clip(255 - (arr - lo) * 255 // span, 0, 255)
        img = np.stack([r, g, b], axis=-1).astype(np.uint8)
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelRepresentation = 0
        ds.PixelData = img.tobytes()
    elif kind == "u16full":
        # Full 16-bit range with jumps of exactly 32768 so that JPEG lossless
        # must code the SSSS=16 difference category (T.81 H.1.2.2).
        img = (arr * 16) & 0xFFFF
        img[:, 1::7] ^= 0x8000
        img[3::5, :] = 65535 - img[3::5, :]
        img = img.astype(np.uint16)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 0
        ds.PixelData = img.tobytes()
    for tag in ("RescaleIntercept", "RescaleSlope", "WindowCenter",
                "WindowWidth"):
        if tag in ds:
            delattr(ds, tag)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.save_as(out_path, write_like_original=False)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    data, out = sys.argv[1], sys.argv[2]
    for t in TOOLS:
        if shutil.which(t) is None:
            print("tool %s not found" % t)
            return 77
    ct = os.path.join(data, "chest-ct")
    sources = []

    def first(folder):
        d = os.path.join(ct, folder)
        if not os.path.isdir(d):
            return None
        names = sorted(n for n in os.listdir(d)
                       if os.path.isfile(os.path.join(d, n)) and
                       not n.startswith("LICENSE") and not n.endswith(".txt"))
        return os.path.join(d, names[len(names) // 2]) if names else None

    for name, folder in (("totalseg", "totalseg-example/dicom"),
                         ("itk", "itk-thorax-slab"),
                         ("ibsi", "ibsi-ct-phantom/dicom/image"),
                         ("cip", "cip-ct64/dicom"),
                         ("covid", "covid-ny-sbu/A002304/axial")):
        p = first(folder)
        if p:
            sources.append((name, p))
    if not sources:
        print("no chest-ct data under %s" % data)
        return 77
    os.makedirs(out, exist_ok=True)
    originals = []
    for name, p in sources:
        base = os.path.join(out, name + ".dcm")
        to_explicit(p, base)
        originals.append((name, base))
    # Derived images start from the Philips slice when present (GDCM refuses
    # to re-encode some of the Siemens slice's derivatives).
    base16 = dict(originals).get("itk", originals[0][1])
    for kind in ("u8", "rgb", "u16full"):
        path = os.path.join(out, kind + ".dcm")
        derive(base16, path, kind)
        originals.append((kind, path))

    # (suffix, encoder command, decoder command, lossless?, which images)
    mono16 = lambda ds: ds.SamplesPerPixel == 1 and ds.BitsAllocated == 16
    mono = lambda ds: ds.SamplesPerPixel == 1
    colour = lambda ds: ds.SamplesPerPixel == 3
    eight = lambda ds: ds.BitsAllocated == 8
    any_ = lambda ds: True
    # All seven predictors on a 12-bit, a signed 16-bit, a full-range 16-bit
    # and a colour image; SV1 (the DICOM default) on everything.
    sweep = lambda ds: (ds.SamplesPerPixel == 3 or ds.BitsStored == 16 or
                        ds.Rows == 512 and ds.BitsStored == 12 and
                        "Philips" in str(getattr(ds, "Manufacturer", "")))
    variants = [("jll_sv1", ["dcmcjpeg", "+e1"], "dcmdjpeg", True, any_)]
    for sv in range(1, 8):
        variants.append(("jll_p%d" % sv, ["dcmcjpeg", "+el", "+sv", str(sv)],
                         "dcmdjpeg", True, sweep))
    variants += [
        ("jll_pt2", ["dcmcjpeg", "+el", "+sv", "4", "+pt", "2"], "dcmdjpeg",
         False, mono16),
        ("jll_p7pt1", ["dcmcjpeg", "+el", "+sv", "7", "+pt", "1"], "dcmdjpeg",
         False, any_),
        ("jbase", ["dcmcjpeg", "+eb"], "dcmdjpeg", False, eight),
        ("jbase444", ["dcmcjpeg", "+eb", "+s4"], "dcmdjpeg", False, colour),
        ("jext", ["dcmcjpeg", "+ee"], "dcmdjpeg", False, eight),
        ("jls", ["dcmcjpls"], "dcmdjpls", True, any_),
        ("jls_near", ["dcmcjpls", "+en"], "dcmdjpls", False, any_),
        ("jls_ils", ["dcmcjpls", "+is"], "dcmdjpls", True, colour),
        ("jls_iln", ["dcmcjpls", "+in"], "dcmdjpls", True, colour),
        ("rle", ["dcmcrle"], "dcmdrle", True, any_),
        ("j2k", ["gdcmconv", "--j2k"], "gdcm", True, any_),
        ("j2k_lossy", ["gdcmconv", "--j2k", "--lossy", "-q", "50"], "gdcm",
         False, mono),
    ]
    lines = []
    # Frames that arrived compressed (the Siemens slice is JPEG 2000
    # lossless): Nova must match GDCM's decode of the vendor's own stream.
    for name, p in sources:
        sds = pydicom.dcmread(p)
        if not sds.file_meta.TransferSyntaxUID.is_compressed:
            continue
        base = pydicom.dcmread(os.path.join(out, name + ".dcm"))
        case = name + "_vendor"
        frame_path = os.path.join(out, case + ".frame")
        ref_path = os.path.join(out, case + ".ref.raw")
        with open(frame_path, "wb") as f:
            f.write(frame0(sds))
        with open(ref_path, "wb") as f:
            f.write(samples(base))
        lines.append(" ".join(str(x) for x in (
            case, sds.file_meta.TransferSyntaxUID, sds.Rows, sds.Columns,
            sds.SamplesPerPixel, sds.BitsAllocated, sds.BitsStored,
            sds.PixelRepresentation, getattr(sds, "PlanarConfiguration", 0),
            sds.PhotometricInterpretation, base.PhotometricInterpretation,
            frame_path, ref_path, "-", 0)))
    def one_case(name, orig, orig_raw, suffix, enc, dec, lossless):
        """Compress, decompress and extract one case; its manifest line or
        None when an encoder refused the image."""
        case = "%s_%s" % (name, suffix)
        comp = os.path.join(out, case + ".dcm")
        back = os.path.join(out, case + ".ref.dcm")
        try:
            if enc[0] == "gdcmconv":
                run(*enc, "-i", orig, "-o", comp)
            else:
                run(*enc, orig, comp)
            if dec == "gdcm":
                to_explicit(comp, back)
            else:
                run(dec, comp, back)
        except subprocess.CalledProcessError as e:
            print("%s: %s failed: %s" % (case, " ".join(e.cmd),
                                         e.stderr.decode(errors="replace")
                                         .strip()[:200]))
            return None
        cds = pydicom.dcmread(comp)
        rds = pydicom.dcmread(back)
        frame_path = os.path.join(out, case + ".frame")
        ref_path = os.path.join(out, case + ".ref.raw")
        with open(frame_path, "wb") as f:
            f.write(frame0(cds))
        with open(ref_path, "wb") as f:
            f.write(samples(rds))
        os.remove(comp)
        os.remove(back)
        # Lossless cases must be identical; lossy ones (DCT, J2K, JPEG-LS
        # near-lossless, point transform) within 2 grey levels of the
        # independent decoder, which may round differently.
        tol = 0 if lossless else 2
        return " ".join(str(x) for x in (
            case, cds.file_meta.TransferSyntaxUID, cds.Rows, cds.Columns,
            cds.SamplesPerPixel, cds.BitsAllocated, cds.BitsStored,
            cds.PixelRepresentation, getattr(cds, "PlanarConfiguration", 0),
            cds.PhotometricInterpretation, rds.PhotometricInterpretation,
            frame_path, ref_path, orig_raw if lossless else "-", tol))

    jobs = []
    for name, orig in originals:
        ods = pydicom.dcmread(orig)
        orig_raw = os.path.join(out, name + ".orig.raw")
        with open(orig_raw, "wb") as f:
            f.write(samples(ods))
        for suffix, enc, dec, lossless, which in variants:
            if which(ods):
                jobs.append((name, orig, orig_raw, suffix, enc, dec, lossless))
    # The encoders are separate processes: run a few at once.
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        for line in pool.map(lambda j: one_case(*j), jobs):
            if line:
                lines.append(line)
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("%d cases" % len(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
