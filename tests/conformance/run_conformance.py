#!/usr/bin/python3
"""Conformance of `nova dump` against real files, pydicom as the oracle.

Usage: run_conformance.py NOVA_EXE SOURCE_DIR [-v]

For every DICOM file in Debian's python3-pydicom test data (test_files,
including dicomdirtests, and charset_files) and every DICOM file under
<data>/chest-ct/ (data = $NOVA_DATA_DIR or SOURCE_DIR/../shared/data; that
part is skipped, saying so, when absent):

  1. `nova dump FILE` and `nova dump --json FILE` must succeed, or, for
     the files listed in KNOWN_BROKEN below, fail with exit status 1 and an
     error on stderr that names the file; where pydicom reads the file, the
     text dump must list the same elements at the same nesting depth, in
     the same order, and the JSON must match pydicom's Dataset.to_json_dict() (PS3.18 Annex F)
     attribute by attribute, with the differences of convention listed in
     compare_json();
  2. when pydicom (with numpy and GDCM) decodes the pixels, `nova dump
     --pixels -o OUT.raw FILE` must succeed, report the same geometry, and
     its samples must be identical to pydicom's for lossless transfer
     syntaxes and within 2 grey levels for lossy ones.

Prints TAP, one line per file.  Run with Debian's /usr/bin/python3 (the one
that has pydicom, numpy and gdcm).
"""
import base64
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    import pydicom
    from pydicom.datadict import dictionary_VR
    from pydicom.pixel_data_handlers.util import convert_color_space
except ImportError as exc:  # pragma: no cover - depends on the machine
    print(f"1..0 # SKIP pydicom/numpy unavailable: {exc}")
    sys.exit(0)

# Files of pydicom's test data that really are broken.  Nova must refuse
# them with a clear error naming the file (or may read what is readable),
# never crash.  Each entry says what is wrong.
KNOWN_BROKEN = {
    # CT_small.dcm with the File Meta Information cut off, but one stray
    # byte (0x20) left before the first element, so no element starts at
    # offset 0; pydicom refuses it too (and with force=True reads one
    # garbage element).
    "no_meta.dcm": "stray byte before the first element",
    # Pixel Data (7FE0,0010) declares 8192 bytes, 8130 remain.
    "MR_truncated.dcm": "Pixel Data value truncated",
    # The file ends inside a sequence of defined length.
    "rtplan_truncated.dcm": "truncated inside a sequence",
    # The last Directory Record item declares 248 bytes; its sequence (and
    # the file) has 224 left.  dcmdump and pydicom stop quietly at the end
    # of the sequence.
    "DICOMDIR-nooffset": "last item longer than its sequence",
}

# Files whose compressed pixel data is damaged: Nova must refuse to decode
# them with an error naming the file.  pydicom's GDCM handler returns a
# buffer anyway (GDCM prints "opj_setup_decoder failure"), so there is no
# reference to compare with.
KNOWN_BAD_CODESTREAM = {
    # JPEG2000.dcm with 4 codestream bytes overwritten by a Sequence
    # Delimitation tag (pydicom issue 1140): OpenJPEG reads an absurd tile
    # count from the SIZ marker.  pydicom's "decoded" array differs from
    # JPEG2000.dcm's by up to 32761.
    "JPEG2000-embedded-sequence-delimiter.dcm": "JPEG 2000",
}

# Files whose pixels pydicom decodes but Nova declines by design, with the
# error Nova must give.  PS3.5 A.4.1 / the JPEG standard's process 4
# (12-bit extended) needs a 12-bit libjpeg; Debian's libjpeg-turbo 2.1
# decodes 8-bit only, and Nova names the syntax instead of guessing.
KNOWN_UNSUPPORTED_PIXELS = {
    "JPEG-lossy.dcm": "12-bit",
    "JPGExtended.dcm": "12-bit",
}

# Transfer syntaxes whose decoders may legitimately differ in rounding
# (lossy JPEG and JPEG 2000 irreversible, JPEG-LS near-lossless): the issue
# allows 2 grey levels there.
LOSSY_SYNTAXES = {
    "1.2.840.10008.1.2.4.50",  # JPEG baseline (process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG extended (processes 2 and 4)
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 (reversible or irreversible)
}
LOSSY_TOLERANCE = 2

NOT_DICOM_SUFFIXES = (".txt", ".json", ".dump", ".gz", ".py", ".md",
                      ".nrrd", ".nii", ".csv", ".pyc")


def is_dicom_candidate(path):
    name = os.path.basename(path)
    if name.startswith(".") or name.endswith(NOT_DICOM_SUFFIXES):
        return False
    if name.upper() == "LICENSE" or name.upper().startswith("README"):
        return False
    if name.endswith(".dcm") or name == "DICOMDIR":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def collect(root, everything):
    """Files under root: all candidates (pydicom data: every file there is
    meant as DICOM) or only those that look like DICOM."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if is_dicom_candidate(path) or (
                    everything and not name.endswith(NOT_DICOM_SUFFIXES)
                    and not name.upper().startswith("README")
                    and name != "__init__.py"):
                out.append(path)
    return out


def find_data_dir(source_dir):
    env = os.environ.get("NOVA_DATA_DIR")
    for cand in (env, os.path.join(source_dir, "..", "shared", "data")):
        if cand and os.path.isdir(cand):
            return cand
    return None


class SanitizerError(Exception):
    pass


def run(cmd, timeout=120):
    """Run nova; a sanitizer report (ASan, UBSan) is a failure whatever the
    exit status says."""
    res = subprocess.run(cmd, capture_output=True, timeout=timeout)
    err = res.stderr.decode("utf-8", "replace")
    if "Sanitizer" in err or "runtime error:" in err:
        raise SanitizerError(err[:600])
    return res


def read_reference(path, for_pixels=False):
    """pydicom's reading of a file.  Files without File Meta Information
    (allowed by PS3.10 7.1 only for media exchange, but common) need
    force=True; pydicom then guesses the encoding from the first element,
    and the transfer syntax it implies is recorded so the pixel handlers
    can run."""
    try:
        return pydicom.dcmread(path)
    except pydicom.errors.InvalidDicomError:
        ds = pydicom.dcmread(path, force=True)
        if len(ds) < 2:
            raise  # force=True read garbage (e.g. no_meta.dcm)
        if for_pixels and "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian if ds.is_implicit_VR
                else pydicom.uid.ExplicitVRLittleEndian
                if ds.is_little_endian else pydicom.uid.ExplicitVRBigEndian)
        return ds


def reference_pixels(path):
    """pydicom's decoded pixels as (array, dataset) or (None, reason).  The
    dataset is a second, untouched read: pydicom's JPEG 2000 corrections
    rewrite Pixel Representation in the dataset they decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_reference(path, True)
            if "PixelData" not in ds:
                return None, "no Pixel Data"
            arr = read_reference(path, True).pixel_array
    except Exception as exc:  # pydicom or its handler cannot decode
        return None, f"pydicom cannot decode: {type(exc).__name__}: " \
                     f"{str(exc)[:120]}"
    return arr, ds


def parse_geometry(text):
    geo = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep:
            geo[key.strip()] = value.strip()
    return geo


def sign_mask(arr, bits_stored, signed):
    """PS3.5 8.1.1 and nova/codec.h: only the bits_stored low bits are
    the sample; signed samples are two's complement in those bits.  pydicom
    returns the stored word as it is, so mask (and sign-extend) it."""
    a = arr.astype(np.int64)
    mask = (1 << bits_stored) - 1
    a &= mask
    if signed:
        sign = 1 << (bits_stored - 1)
        a = (a ^ sign) - sign
    return a


def compare_pixels(nova, path, ds, ref, tmp):
    """Returns (ok, message)."""
    raw = os.path.join(tmp, "pixels.raw")
    r = run([nova, "dump", "--pixels", "-o", raw, path])
    name = os.path.basename(path)
    try:
        return _compare_pixels(r, raw, name, path, ds, ref)
    finally:
        if os.path.exists(raw):
            os.unlink(raw)


def _compare_pixels(r, raw, name, path, ds, ref):
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip()
        need = KNOWN_UNSUPPORTED_PIXELS.get(name)
        if need and need in err and path in err:
            return True, f"pixels declined as documented ({need})"
        return False, f"--pixels failed (rc {r.returncode}): {err[:300]}"
    geo = parse_geometry(r.stdout.decode("utf-8", "replace"))
    try:
        rows, cols = int(geo["rows"]), int(geo["columns"])
        frames, spp = int(geo["frames"]), int(geo["samples_per_pixel"])
        bits, signed = int(geo["bits_allocated"]), int(geo["signed"])
        photometric = geo["photometric"]
    except (KeyError, ValueError):
        return False, f"--pixels printed no geometry: {geo}"

    expect = (int(ds.Rows), int(ds.Columns),
              int(getattr(ds, "NumberOfFrames", 1) or 1),
              int(getattr(ds, "SamplesPerPixel", 1)), int(ds.BitsAllocated),
              int(getattr(ds, "PixelRepresentation", 0)))
    got = (rows, cols, frames, spp, bits, signed)
    if got != expect:
        return False, f"geometry {got} != pydicom {expect} " \
                      "(rows, columns, frames, spp, bits, signed)"

    dtype = {1: "u1", 8: "u1", 16: "<u2", 32: "<u4"}.get(bits)
    if dtype is None:
        return False, f"unexpected bits_allocated {bits}"
    if signed and bits > 1:
        dtype = dtype.replace("u", "i")
    data = np.fromfile(raw, dtype=dtype)
    n = rows * cols * frames * spp
    if data.size != n:
        return False, f"{data.size} samples written, {n} expected"
    nova_px = data.astype(np.int64).reshape(frames, rows, cols, spp)

    if ref.size != n:
        return False, f"pydicom gave {ref.size} samples, {n} expected"
    ref = ref.reshape(frames, rows, cols, spp)
    bits_stored = int(getattr(ds, "BitsStored", bits))
    if bits > 1 and bits_stored < bits:
        ref = sign_mask(ref, bits_stored, signed)
    ref = ref.astype(np.int64)

    ts = str(ds.file_meta.TransferSyntaxUID)
    tolerance = LOSSY_TOLERANCE if ts in LOSSY_SYNTAXES else 0
    note = ""
    ref_pi = str(ds.PhotometricInterpretation)
    if photometric == "RGB" and ref_pi.startswith("YBR_FULL") and spp == 3:
        # Nova delivers RGB where the standard makes the decoder convert
        # (PS3.5 8.2.1: JPEG baseline with YBR_FULL(_422)).  pydicom
        # returns the codec's output as it is: GDCM leaves such JPEG data
        # as YCbCr.  Convert the reference with the equations of PS3.3
        # C.7.6.3.1.2 (pydicom's convert_color_space); rounding of that
        # float conversion differs by at most 1 from an integer decoder.
        diff_as_is = int(np.abs(nova_px - ref).max())
        conv = convert_color_space(
            ref.reshape(frames, rows, cols, 3).astype(np.uint8),
            "YBR_FULL", "RGB", per_frame=True).astype(np.int64)
        diff_conv = int(np.abs(nova_px - conv).max())
        if diff_conv <= diff_as_is:
            ref = conv
            tolerance = max(tolerance, 1)
            note = " (reference YBR_FULL converted to RGB, PS3.3 C.7.6.3.1.2)"
    diff = np.abs(nova_px - ref)
    worst = int(diff.max()) if diff.size else 0
    if worst > tolerance:
        where = np.unravel_index(int(diff.argmax()), diff.shape)
        return False, (f"pixels differ: max |nova - pydicom| = {worst} > "
                       f"{tolerance} at (frame, row, col, sample) {where}: "
                       f"nova {nova_px[where]}, pydicom {ref[where]}; "
                       f"{int((diff > tolerance).sum())} of {n} samples "
                       f"differ; photometric nova {photometric}, "
                       f"pydicom {ref_pi}{note}")
    kind = "identical" if worst == 0 else f"max diff {worst}"
    return True, f"pixels {kind} ({n} samples, {photometric}){note}"


SINGLE_VALUED_TEXT = {"LT", "ST", "UT", "UR"}
BINARY_SIZES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def normalise_values(vr, values):
    """Where pydicom's JSON and PS3.18 F / PS3.5 disagree in form only."""
    out = []
    for v in values:
        if isinstance(v, str) and vr not in SINGLE_VALUED_TEXT:
            # PS3.5 6.2: leading and trailing spaces of each value are
            # padding for these VRs; pydicom trims only the whole value.
            v = v.strip(" ")
        # PS3.18 F.2.5: an empty value of a multi-valued attribute is
        # null; pydicom writes "".
        out.append(None if v == "" else v)
    return out


def values_equal(vr, a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) \
                and not isinstance(x, bool):
            if vr == "FL":
                # Nova writes the shortest decimal of the float32 value,
                # pydicom the float64 it widened it to: same float32.
                if np.float32(x) != np.float32(y):
                    return False
            elif x != y and abs(x - y) > 1e-12 * max(abs(x), abs(y)):
                return False
        elif x != y:
            return False
    return True


def compare_json(nova_obj, ref_obj, big_endian, where=""):
    """First difference between Nova's and pydicom's DICOM JSON, or None."""
    for key in sorted(set(nova_obj) | set(ref_obj)):
        tag = int(key, 16)
        if key not in nova_obj:
            return f"{where}{key}: missing in Nova"
        if key not in ref_obj:
            return f"{where}{key}: absent from pydicom's JSON"
        n, r = nova_obj[key], ref_obj[key]
        nvr, rvr = n.get("vr"), r.get("vr")
        rvr = str(getattr(rvr, "value", rvr))  # pydicom's VR enum
        if nvr == "UN" and rvr != "UN":
            # The file says UN; pydicom replaces it by the VR of its
            # (public or private) dictionary and parses the bytes.  PS3.5
            # 6.2.2 lets a reader do that; Nova keeps what the file says.
            continue
        if nvr != rvr:
            try:
                alternatives = dictionary_VR(tag)
            except KeyError:
                alternatives = ""
            # PS3.6 lists several VRs ("US or SS", "OB or OW") and the two
            # readers chose differently (for implicit VR, PS3.5 A.1 c).
            if " or " not in alternatives:
                return f"{where}{key}: vr {nvr}, pydicom {rvr}"
        if tag == 0x7FE00010 and "Value" not in n and "InlineBinary" not in n:
            continue  # encapsulated Pixel Data: Nova writes no value
        if rvr == "SQ":
            ni, ri = n.get("Value", []), r.get("Value", [])
            if len(ni) != len(ri):
                return f"{where}{key}: {len(ni)} items, pydicom {len(ri)}"
            for i, (a, b) in enumerate(zip(ni, ri)):
                d = compare_json(a, b, big_endian, f"{where}{key}[{i}].")
                if d:
                    return d
            continue
        if "InlineBinary" in n or "InlineBinary" in r:
            nb = base64.b64decode(n.get("InlineBinary", ""))
            rb = base64.b64decode(r.get("InlineBinary", ""))
            size = BINARY_SIZES.get(nvr, 1)
            if big_endian and size > 1:
                # PS3.18 F.2.7 / 8.7.3: binary values in the JSON model are
                # little endian; pydicom copies big endian bytes as read.
                arr = np.frombuffer(rb[:len(rb) // size * size],
                                    dtype=f">u{size}")
                rb = arr.astype(f"<u{size}").tobytes() + \
                    rb[len(rb) // size * size:]
            if nb != rb:
                return f"{where}{key}: InlineBinary differs " \
                       f"({len(nb)} vs {len(rb)} bytes)"
            continue
        nv = normalise_values(nvr, n.get("Value", []))
        rv = normalise_values(nvr, r.get("Value", []))
        if all(v is None for v in rv) and not nv:
            continue  # pydicom writes [""] for some empty values
        if not values_equal(nvr, nv, rv):
            return f"{where}{key} ({nvr}): Nova {str(nv)[:150]}, " \
                   f"pydicom {str(rv)[:150]}"
    return None


def text_structure(text):
    """(depth, tag) of each element line of a text dump (item and
    delimiter lines left out); nested data sets are indented by 4."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^( *)\(([0-9a-f]{4}),([0-9a-f]{4})\) ", line)
        if m and m.group(2) != "fffe":
            out.append((len(m.group(1)) // 4, int(m.group(2) + m.group(3),
                                                   16)))
    return out


def pydicom_structure(path):
    """The same list from pydicom, or None when pydicom cannot read it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_reference(path)
            out = []

            def walk(d, tags, depth):
                for tag in tags:
                    raw = d.get_item(tag)
                    el = d[tag]
                    out.append((depth, int(tag)))
                    # pydicom parses a UN value of defined length as a
                    # sequence when its dictionary says SQ; Nova keeps the
                    # bytes (PS3.5 6.2.2 parses only undefined-length UN).
                    if getattr(raw, "VR", None) == "UN" and \
                            raw.length != 0xFFFFFFFF:
                        continue
                    if el.VR == "SQ":
                        for item in el.value:
                            walk(item, list(item.keys()), depth + 1)

            # Nova lists the meta group and the data set in one tag order.
            roots = sorted([(t, ds.file_meta) for t in ds.file_meta.keys()] +
                           [(t, ds) for t in ds.keys()],
                           key=lambda x: int(x[0]))
            for tag, owner in roots:
                walk(owner, [tag], 0)
            return out
    except Exception:
        return None


def pydicom_json(path):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_reference(path)
            big = ds.is_little_endian is False
            return ds.to_json_dict(bulk_data_threshold=1 << 40), big
    except Exception:  # pydicom cannot read it: nothing to compare
        return None, False


def check_file(nova, path, tmp):
    """Returns (ok, message) for one file."""
    name = os.path.basename(path)
    broken = KNOWN_BROKEN.get(name) if "pydicom" in path else None
    r = run([nova, "dump", path])
    rj = run([nova, "dump", "--json", path])
    for mode, res in (("text", r), ("json", rj)):
        err = res.stderr.decode("utf-8", "replace").strip()
        if res.returncode not in (0, 1):
            return False, f"{mode} dump: exit status {res.returncode} " \
                          f"(crash?): {err[:300]}"
        if res.returncode == 1:
            if not broken:
                return False, f"{mode} dump failed: {err[:300]}"
            if path not in err or not err.startswith("nova dump:"):
                return False, f"{mode} dump: error does not name the " \
                              f"file: {err[:300]}"
    if broken:
        what = "refused" if r.returncode else "read"
        return True, f"known broken ({broken}): {what}: " + \
            (r.stderr.decode("utf-8", "replace").strip()[:200]
             if r.returncode else "")
    try:
        nova_json = json.loads(rj.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return False, f"--json output is not valid JSON: {exc}"
    ref_struct = pydicom_structure(path)
    if ref_struct is not None:
        got = text_structure(r.stdout.decode("utf-8", "replace"))
        if got != ref_struct:
            first = next((i for i, (a, b) in enumerate(zip(got, ref_struct))
                          if a != b), min(len(got), len(ref_struct)))
            show = lambda lst: lst[first] if first < len(lst) else "end"
            return False, (f"text dump element {first}: Nova (depth, tag) "
                           f"{show(got)}, pydicom {show(ref_struct)}")
    ref_json, big_endian = pydicom_json(path)
    json_note = "json not compared (pydicom cannot read the file)"
    if ref_json is not None:
        diff = compare_json(nova_json, ref_json, big_endian)
        if diff:
            return False, f"--json differs from pydicom: {diff}"
        json_note = "json = pydicom"

    bad = KNOWN_BAD_CODESTREAM.get(name) if "pydicom" in path else None
    if bad:
        raw = os.path.join(tmp, "pixels.raw")
        rp = run([nova, "dump", "--pixels", "-o", raw, path])
        err = rp.stderr.decode("utf-8", "replace").strip()
        if rp.returncode == 1 and path in err and bad in err:
            return True, f"damaged codestream refused: {err[:200]}"
        return False, f"damaged codestream not refused cleanly " \
                      f"(rc {rp.returncode}): {err[:300]}"

    ref, ds = reference_pixels(path)
    if ref is None:
        return True, f"{json_note}; pixels not compared: {ds}"
    ok, msg = compare_pixels(nova, path, ds, ref, tmp)
    return ok, f"{json_note}; {msg}"


def cli_checks(nova, sample, tmp):
    """The command-line contract of `nova dump` (exit 0 success, 1 bad
    input, 2 usage; errors on stderr as "nova dump: ..."), as (name, ok,
    message) triples."""
    missing = os.path.join(tmp, "absent.dcm")
    raw = os.path.join(tmp, "cli.raw")
    cases = [
        ("--help exits 0 with usage on stdout", ["--help"], 0, "usage:", ""),
        ("no file is a usage error", [], 2, "", "no input file"),
        ("unknown option is a usage error", ["--bogus", sample], 2, "",
         "unknown option"),
        ("--pixels needs -o", ["--pixels", sample], 2, "", "needs -o"),
        ("--pixels takes one file", ["--pixels", "-o", raw, sample, sample],
         2, "", "one file"),
        ("a missing file fails naming it", [missing], 1, "",
         f"nova dump: cannot open file: {missing}"),
        ("--header-only leaves Pixel Data unread", ["--header-only", sample],
         0, "(not read: --header-only)", ""),
        ("an unwritable -o fails naming it",
         ["--pixels", "-o", os.path.join(missing, "x.raw"), sample], 1, "",
         "x.raw"),
    ]
    out = []
    for name, args, status, want_out, want_err in cases:
        r = run([nova, "dump"] + args)
        so = r.stdout.decode("utf-8", "replace")
        se = r.stderr.decode("utf-8", "replace")
        ok = r.returncode == status and want_out in so and want_err in se
        out.append((f"cli: {name}", ok,
                    "" if ok else f"exit {r.returncode}, stdout "
                    f"{so[:120]!r}, stderr {se[:200]!r}"))
    return out


def main():
    if len(sys.argv) < 3:
        print("usage: run_conformance.py NOVA_EXE SOURCE_DIR [-v]",
              file=sys.stderr)
        return 2
    nova, source_dir = sys.argv[1], sys.argv[2]
    pyd = os.path.join(os.path.dirname(pydicom.__file__), "data")
    files = collect(os.path.join(pyd, "test_files"), True)
    files += collect(os.path.join(pyd, "charset_files"), True)
    data = find_data_dir(source_dir)
    chest = os.path.join(data, "chest-ct") if data else None
    if chest and os.path.isdir(chest):
        files += collect(chest, False)
    else:
        print("# chest-ct data absent (set NOVA_DATA_DIR): only pydicom's "
              "files are checked")
    print(f"1..{len(files) + 8}")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="nova-conformance-") as tmp:
        sample = os.path.join(pyd, "test_files", "CT_small.dcm")
        for i, (name, ok, msg) in enumerate(cli_checks(nova, sample, tmp),
                                            1):
            print(f"{'ok' if ok else 'not ok'} {i} - {name}"
                  f"{': ' + msg if msg else ''}", flush=True)
            failed += not ok

    def one(index_path):
        index, path = index_path
        # Each file gets its own scratch folder: files run two at a time.
        sub = os.path.join(tmp, str(index))
        os.mkdir(sub)
        try:
            return check_file(nova, path, sub)
        except subprocess.TimeoutExpired as exc:
            return False, f"timeout: {exc}"
        except SanitizerError as exc:
            return False, f"sanitizer report: {exc}"
        finally:
            os.rmdir(sub)

    jobs = int(os.environ.get("NOVA_TEST_JOBS", "2"))
    with tempfile.TemporaryDirectory(prefix="nova-conformance-") as tmp, \
            concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = pool.map(one, enumerate(files, 1))
        for i, (path, (ok, msg)) in enumerate(zip(files, results), 9):
            rel = path
            for base in (pyd, chest):
                if base and path.startswith(base):
                    rel = os.path.relpath(path, os.path.dirname(base))
            msg = msg.replace("\n", " ")
            print(f"{'ok' if ok else 'not ok'} {i} - {rel}: {msg}",
                  flush=True)
            failed += not ok
    print(f"# {len(files) + 8 - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
