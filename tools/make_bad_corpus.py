#!/usr/bin/env python3
"""make_bad_corpus.py - broken DICOM inputs for Nova's bad-input test.

  make_bad_corpus.py OUTDIR [--pydicom-files DIR]
      Write the bad-input corpus into OUTDIR and OUTDIR/manifest.tsv, one
      line per file: NAME <tab> EXPECT <tab> WHAT, where EXPECT is
        fail  - the file is broken: reading it, reading its image info or
                decoding one of its frames must fail with an error;
        fail-whole - the same for a whole-file read, but the fault lies
                after Pixel Data, where a header-only read never looks;
        ok    - the file is valid and must parse;
        any   - must neither crash nor hang (it may parse or fail).
      Whatever the expectation, every error must name the file, an offset
      and the problem (checked by tests/fuzz/test_bad_input.c).

  make_bad_corpus.py --seeds OUTDIR
      Write the small valid seed corpus of the libFuzzer target (committed
      as tests/fuzz/corpus/): tiny datasets in every transfer syntax family,
      compressed copies made with DCMTK and GDCM when installed, and the raw
      codestreams alone (the fuzz target also feeds its input straight to
      every codec).

The valid inputs are written here byte by byte (PS3.5 7.1 data elements,
PS3.10 7.1 file meta group) with the standard library only, so that the
corpus is independent of the parser it tests and needs no pydicom.  The
expectations for truncated files come from an element walker of our own
(walk_elements below): a cut strictly inside a top-level element must fail,
a cut on an element boundary leaves a shorter dataset that may be valid.
"""
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# ---------------------------------------------------------------- encoding

# PS3.5 7.1.2: VRs with a 2-byte reserved field and a 4-byte length.
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC",
            b"UN", b"UR", b"UT", b"UV"}

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"

UNDEFINED = 0xFFFFFFFF


class Enc:
    """An encoding: explicit or implicit VR, little or big endian."""

    def __init__(self, explicit=True, big=False):
        self.explicit = explicit
        self.big = big
        self.o = ">" if big else "<"

    def u16(self, v):
        return struct.pack(self.o + "H", v & 0xFFFF)

    def u32(self, v):
        return struct.pack(self.o + "I", v & 0xFFFFFFFF)


LE = Enc(True, False)
ILE = Enc(False, False)
BE = Enc(True, True)


def enc_for(ts):
    if ts == IMPLICIT_LE:
        return ILE
    if ts == EXPLICIT_BE:
        return BE
    return LE


def header(enc, tag, vr, length):
    """The tag, VR and length of one element (PS3.5 7.1.1-7.1.3)."""
    out = enc.u16(tag >> 16) + enc.u16(tag & 0xFFFF)
    if not enc.explicit or vr is None:
        return out + enc.u32(length)
    if vr in LONG_VRS:
        return out + vr + b"\0\0" + enc.u32(length)
    return out + vr + enc.u16(length)


def pad(vr, value):
    """Pad a value to even length (PS3.5 7.1.1): UI and binary with NUL,
    text with a space."""
    if len(value) % 2 == 0:
        return value
    return value + (b"\0" if vr in (b"UI", b"OB", b"UN") else b" ")


def el(enc, tag, vr, value):
    if isinstance(value, str):
        value = value.encode("latin-1")
    value = pad(vr, value)
    return header(enc, tag, vr, len(value)) + value


def us(enc, tag, v):
    return el(enc, tag, b"US", enc.u16(v))


def item(enc, body, defined=True):
    """A sequence item (PS3.5 7.5.2), defined or undefined length."""
    if defined:
        return header(enc, 0xFFFEE000, None, len(body)) + body
    return (header(enc, 0xFFFEE000, None, UNDEFINED) + body +
            header(enc, 0xFFFEE00D, None, 0))


def seq(enc, tag, items, defined=True):
    body = b"".join(items)
    if defined:
        return header(enc, tag, b"SQ", len(body)) + body
    return (header(enc, tag, b"SQ", UNDEFINED) + body +
            header(enc, 0xFFFEE0DD, None, 0))


def encapsulated(frames, bot=True, enc=LE):
    """Encapsulated Pixel Data (PS3.5 A.4): a Basic Offset Table item, one
    fragment per frame, then the sequence delimiter."""
    fragments = [f + (b"\0" if len(f) % 2 else b"") for f in frames]
    table = b""
    if bot:
        pos = 0
        for f in fragments:
            table += struct.pack("<I", pos)
            pos += 8 + len(f)
    out = header(enc, 0x7FE00010, b"OB", UNDEFINED)
    out += header(enc, 0xFFFEE000, None, len(table)) + table
    for f in fragments:
        out += header(enc, 0xFFFEE000, None, len(f)) + f
    return out + header(enc, 0xFFFEE0DD, None, 0)


def meta(ts, sop_class="1.2.840.10008.5.1.4.1.1.7",
         sop_instance="1.2.826.0.1.3680043.2.1143.99"):
    """File Meta Information (PS3.10 7.1), always explicit VR LE."""
    body = el(LE, 0x00020001, b"OB", b"\0\1")
    body += el(LE, 0x00020002, b"UI", sop_class)
    body += el(LE, 0x00020003, b"UI", sop_instance)
    body += el(LE, 0x00020010, b"UI", ts)
    body += el(LE, 0x00020012, b"UI", "1.2.826.0.1.3680043.2.1143.107")
    body += el(LE, 0x00020013, b"SH", "NOVA_BADCORPUS")
    return el(LE, 0x00020000, b"UL", struct.pack("<I", len(body))) + body


def part10(ts, dataset, preamble=True, with_meta=True):
    out = b""
    if preamble:
        out += b"\0" * 128 + b"DICM"
    if with_meta:
        out += meta(ts)
    if ts == DEFLATED:
        # PS3.5 A.5: the dataset is a raw deflate stream (RFC 1951).
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        dataset = c.compress(dataset) + c.flush()
    return out + dataset


def image_module(enc, rows, cols, bits=16, spp=1, frames=None, signed=0,
                 photometric="MONOCHROME2", planar=None, stored=None):
    """The Image Pixel module (PS3.3 C.7.6.3) in tag order, up to but not
    including Pixel Data."""
    out = el(enc, 0x00080005, b"CS", "ISO_IR 100")
    out += el(enc, 0x00080016, b"UI", "1.2.840.10008.5.1.4.1.1.7")
    out += el(enc, 0x00080018, b"UI", "1.2.826.0.1.3680043.2.1143.99")
    out += el(enc, 0x00080060, b"CS", "OT")
    out += el(enc, 0x00100010, b"PN", "Bad^Corpus")
    out += us(enc, 0x00280002, spp)
    out += el(enc, 0x00280004, b"CS", photometric)
    if planar is not None:
        out += us(enc, 0x00280006, planar)
    if frames is not None:
        out += el(enc, 0x00280008, b"IS", str(frames))
    out += us(enc, 0x00280010, rows)
    out += us(enc, 0x00280011, cols)
    stored = bits if stored is None else stored
    out += us(enc, 0x00280100, bits)
    out += us(enc, 0x00280101, stored)
    out += us(enc, 0x00280102, max(stored - 1, 0))
    out += us(enc, 0x00280103, signed)
    return out


def native_pixels(enc, rows, cols, bits=16, spp=1, frames=1):
    """A ramp image of the given shape as native Pixel Data."""
    n = rows * cols * spp * frames
    if bits == 1:
        data = bytes((i * 37) & 0xFF for i in range((n + 7) // 8))
    elif bits == 8:
        data = bytes((i * 7) & 0xFF for i in range(n))
    elif bits == 16:
        data = b"".join(enc.u16(i * 97) for i in range(n))
    else:
        data = b"".join(enc.u32(i * 100003) for i in range(n))
    vr = b"OW" if bits > 8 else b"OB"
    return el(enc, 0x7FE00010, vr, data)


def rle_segment(data):
    """PackBits-style RLE of one byte plane (PS3.5 G.3.1), literal runs and
    replicate runs so that the decoder sees both."""
    out = bytearray()
    i = 0
    while i < len(data):
        j = i
        while j < len(data) and j - i < 128 and data[j] == data[i]:
            j += 1
        if j - i >= 3:
            out += bytes([(257 - (j - i)) & 0xFF, data[i]])
            i = j
            continue
        j = i
        while j < len(data) and j - i < 128 and not (
                j + 2 < len(data) and data[j] == data[j + 1] == data[j + 2]):
            j += 1
        out += bytes([j - i - 1]) + data[i:j]
        i = j
    if len(out) % 2:
        out.append(0)
    return bytes(out)


def rle_frame(rows, cols, bits, spp, seed=0):
    """One RLE Lossless frame (PS3.5 G.2): 64-byte header, then one segment
    per byte plane, most significant byte first."""
    nbytes = bits // 8
    planes = []
    for s in range(spp):
        vals = [((i * 31 + s * 7 + seed) // 3) for i in range(rows * cols)]
        for b in range(nbytes - 1, -1, -1):
            planes.append(bytes((v >> (8 * b)) & 0xFF for v in vals))
    segs = [rle_segment(p) for p in planes]
    offsets = []
    pos = 64
    for s in segs:
        offsets.append(pos)
        pos += len(s)
    hdr = struct.pack("<I", len(segs)) + b"".join(
        struct.pack("<I", o) for o in offsets)
    hdr += b"\0" * (64 - len(hdr))
    return hdr + b"".join(segs)


def native_file(ts, rows=8, cols=8, bits=16, spp=1, frames=1, **kw):
    enc = enc_for(ts)
    photometric = "RGB" if spp == 3 else "MONOCHROME2"
    ds = image_module(enc, rows, cols, bits, spp,
                      frames if frames > 1 else None,
                      photometric=photometric,
                      planar=kw.get("planar", 0 if spp == 3 else None),
                      signed=kw.get("signed", 0), stored=kw.get("stored"))
    ds += native_pixels(enc, rows, cols, bits, spp, frames)
    return part10(ts, ds)


def rle_file(rows=8, cols=8, bits=16, spp=1, frames=1):
    ds = image_module(LE, rows, cols, bits, spp,
                      frames if frames > 1 else None,
                      photometric="RGB" if spp == 3 else "MONOCHROME2",
                      planar=0 if spp == 3 else None)
    ds += encapsulated([rle_frame(rows, cols, bits, spp, f)
                        for f in range(frames)])
    return part10(RLE, ds)


def sequences_file(ts=EXPLICIT_LE):
    """Nested sequences of both length forms, a private block, an empty
    item and UN of undefined length (PS3.5 6.2.2)."""
    enc = enc_for(ts)
    inner = seq(enc, 0x00081199, [
        item(enc, el(enc, 0x00081150, b"UI", "1.2.3") +
             el(enc, 0x00081155, b"UI", "1.2.3.4"), defined=False),
        item(enc, b"", defined=True)], defined=False)
    ds = el(enc, 0x00080005, b"CS", "ISO_IR 192")
    ds += el(enc, 0x00080016, b"UI", "1.2.840.10008.5.1.4.1.1.7")
    ds += seq(enc, 0x00081115, [
        item(enc, inner + el(enc, 0x00081160, b"IS", "1\\2\\3")),
        item(enc, el(enc, 0x00081150, b"UI", "9.9"), defined=False)])
    ds += el(enc, 0x00100010, b"PN", "Yamada^Tarou=\u5c71\u7530^\u592a\u90ce"
             .encode("utf-8"))
    ds += el(enc, 0x00091010, b"LO", "NOVA PRIVATE")
    ds += el(enc, 0x00091011, b"UN", b"\1\2\3\4")
    ds += el(enc, 0x00201041, b"DS", "-12.5")
    ds += el(enc, 0x00280030, b"DS", "0.5\\0.5")
    if enc.explicit and not enc.big:
        # UN of undefined length: its content is implicit VR LE.
        un_body = (header(ILE, 0xFFFEE000, None, UNDEFINED) +
                   el(ILE, 0x00100020, None, "ID1") +
                   header(ILE, 0xFFFEE00D, None, 0))
        ds += (header(enc, 0x00331001, b"UN", UNDEFINED) + un_body +
               header(ILE, 0xFFFEE0DD, None, 0))
    return part10(ts, ds)


# ------------------------------------------------------------- the walker

def walk_elements(data, pos, end, enc, depth=0):
    """Top-level elements of data[pos:end] as (header_offset, end_offset,
    tag, vr, length); undefined lengths are skipped to their delimiter.
    Raises ValueError on anything malformed."""
    out = []
    while pos < end:
        start = pos
        tag, vr, length, pos = read_header(data, pos, enc)
        if tag == 0xFFFEE00D or tag == 0xFFFEE0DD:
            out.append((start, pos, tag, vr, length))
            break
        if length == UNDEFINED:
            pos = skip_undefined(data, pos, enc, tag, vr, depth)
        else:
            pos += length
            if pos > len(data):
                raise ValueError("length past end")
        out.append((start, pos, tag, vr, length))
    return out


def read_header(data, pos, enc):
    if pos + 8 > len(data):
        raise ValueError("short header")
    group, element = struct.unpack_from(enc.o + "HH", data, pos)
    tag = group << 16 | element
    if tag >> 16 == 0xFFFE or not enc.explicit:
        return tag, None, struct.unpack_from(enc.o + "I", data, pos + 4)[0], \
            pos + 8
    vr = bytes(data[pos + 4:pos + 6])
    if vr in LONG_VRS:
        if pos + 12 > len(data):
            raise ValueError("short header")
        return tag, vr, struct.unpack_from(enc.o + "I", data, pos + 8)[0], \
            pos + 12
    return tag, vr, struct.unpack_from(enc.o + "H", data, pos + 6)[0], pos + 8


def skip_undefined(data, pos, enc, tag, vr, depth):
    """Skip the value of an undefined-length SQ, UN or encapsulated Pixel
    Data: items until the sequence delimiter (PS3.5 7.5.2, A.4)."""
    if depth > 200:
        raise ValueError("too deep")
    inner = ILE if vr == b"UN" else enc
    while True:
        t, _, length, pos = read_header(data, pos, inner)
        if t == 0xFFFEE0DD:
            return pos
        if t != 0xFFFEE000:
            raise ValueError("not an item")
        if length == UNDEFINED:
            # Elements of the item until its delimiter.
            while True:
                t2, vr2, l2, p2 = read_header(data, pos, inner)
                if t2 == 0xFFFEE00D:
                    pos = p2
                    break
                pos = (skip_undefined(data, p2, inner, t2, vr2, depth + 1)
                       if l2 == UNDEFINED else p2 + l2)
        else:
            pos += length
        if pos > len(data):
            raise ValueError("item past end")


def parse_file(data):
    """(dataset_start, encoding, transfer syntax, meta elements, dataset
    elements) of a Part 10 file with preamble and meta group, or None."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        meta_els = []
        pos = 132
        ts = None
        while pos + 8 <= len(data) and data[pos:pos + 2] == b"\2\0":
            start = pos
            tag, vr, length, pos = read_header(data, pos, LE)
            if tag == 0x00020010:
                ts = data[pos:pos + length].rstrip(b"\0 ").decode("ascii")
            pos += length
            meta_els.append((start, pos, tag, vr, length))
        if ts is None:
            return None
        enc = enc_for(ts)
        body = data[pos:] if ts != DEFLATED else None
        els = walk_elements(data, pos, len(data), enc) if body else []
        return pos, enc, ts, meta_els, els
    except (ValueError, struct.error, UnicodeDecodeError):
        return None


# ----------------------------------------------------------------- corpus

class Corpus:
    def __init__(self, outdir):
        self.outdir = outdir
        self.lines = []
        self.names = set()

    def add(self, name, data, expect, what):
        assert expect in ("fail", "fail-whole", "ok", "any")
        assert name not in self.names, name
        self.names.add(name)
        with open(os.path.join(self.outdir, name), "wb") as f:
            f.write(data)
        self.lines.append(f"{name}\t{expect}\t{what}\n")

    def finish(self):
        with open(os.path.join(self.outdir, "manifest.tsv"), "w") as f:
            f.writelines(self.lines)


def generated_bases():
    """Small valid files covering each transfer syntax family and layout."""
    return {
        "gen_explicit_le_16bit_2frames": native_file(EXPLICIT_LE, frames=2),
        "gen_implicit_le_8bit": native_file(IMPLICIT_LE, bits=8),
        "gen_explicit_be_16bit_signed": native_file(EXPLICIT_BE, signed=1),
        "gen_deflated_16bit": native_file(DEFLATED, rows=16, cols=16),
        "gen_rgb_planar": native_file(EXPLICIT_LE, spp=3, bits=8, planar=1),
        "gen_1bit_odd": native_file(EXPLICIT_LE, rows=5, cols=7, bits=1,
                                    frames=3),
        "gen_32bit": native_file(EXPLICIT_LE, rows=4, cols=4, bits=32),
        "gen_rle_16bit_2frames": rle_file(frames=2),
        "gen_rle_rgb": rle_file(spp=3, bits=8),
        "gen_sequences_explicit": sequences_file(EXPLICIT_LE),
        "gen_sequences_implicit": sequences_file(IMPLICIT_LE),
        "gen_sequences_big": sequences_file(EXPLICIT_BE),
    }


# pydicom test files, one or more per transfer syntax family: implicit LE,
# explicit LE, explicit BE, deflated, and encapsulated (each codec).
PYDICOM_BASES = [
    "MR_small_implicit.dcm", "CT_small.dcm", "rtplan.dcm", "nested_priv_SQ.dcm",
    "MR_small_bigendian.dcm", "image_dfl.dcm", "MR_small_RLE.dcm",
    "SC_rgb_rle_2frame.dcm", "SC_rgb_jpeg_dcmtk.dcm", "JPGExtended.dcm",
    "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
    "SC_rgb_small_odd_jpeg.dcm", "UN_sequence.dcm",
]


def cut_points(data, rng):
    """Offsets to truncate a file at: around every element boundary of the
    meta group and the dataset, the middle of each value, inside the
    preamble and a spread of random points; at most 60."""
    size = len(data)
    points = {0, 1, 64, 128, 130, 132, 133, size - 1, size - 2}
    parsed = parse_file(data)
    if parsed:
        _, _, _, meta_els, els = parsed
        for start, end, *_ in meta_els + els[:40]:
            for p in (start + 1, start + 4, start + 6, start + 9,
                      (start + end) // 2, end - 1):
                points.add(p)
    while len(points) < 60:
        points.add(rng.randrange(0, size))
    points = sorted(p for p in points if 0 <= p < size)
    if len(points) > 60:
        points = sorted(rng.sample(points, 60))
    return points


def cut_expectation(data, cut):
    """fail when the cut falls strictly inside an element of the meta group
    or of the dataset (or in a deflated stream), any on a boundary or where
    the file cannot be walked here."""
    if cut == 0:
        return "fail"
    parsed = parse_file(data)
    if not parsed:
        return "any"
    ds_start, _, ts, meta_els, els = parsed
    if cut < 132:
        return "any"
    pixel_start = min([s for s, _, tag, *_ in els if tag == 0x7FE00010] or
                      [len(data)])
    for start, end, *_ in meta_els + els:
        if start < cut < end:
            return "fail" if start <= pixel_start else "fail-whole"
    if ts == DEFLATED and ds_start < cut < len(data) - 2:
        return "fail"
    return "any"


def add_truncations(corpus, bases, rng):
    for name, data in bases.items():
        for cut in cut_points(data, rng):
            corpus.add(f"trunc_{name}_{cut}.dcm", data[:cut],
                       cut_expectation(data, cut),
                       f"{name} truncated to {cut} bytes")


def patch_u16(data, pos, v, enc):
    return data[:pos] + enc.u16(v) + data[pos + 2:]


def patch_u32(data, pos, v, enc):
    return data[:pos] + enc.u32(v) + data[pos + 4:]


def length_field(data, start, enc):
    """(offset, size) of the length field of the element at start."""
    if not enc.explicit or data[start:start + 2] == enc.u16(0xFFFE):
        return start + 4, 4
    vr = bytes(data[start + 4:start + 6])
    return (start + 8, 4) if vr in LONG_VRS else (start + 6, 2)


def add_length_lies(corpus, bases):
    """Lengths pointing past the end, absurd lengths and odd lengths, in the
    meta group and in each top-level element of the dataset."""
    for name, data in bases.items():
        parsed = parse_file(data)
        if not parsed:
            continue
        _, enc, ts, meta_els, els = parsed
        pixel_start = min([s for s, _, tag, *_ in els
                           if tag == 0x7FE00010] or [len(data)])
        targets = [(s, e, LE, "meta") for s, e, *_ in meta_els]
        targets += [(s, e, enc, "dataset") for s, e, *_ in els]
        # At most 8 elements per file: the first few, the last few.
        if len(targets) > 8:
            targets = targets[:4] + targets[-4:]
        for start, end, e, where in targets:
            off, size = length_field(data, start, e)
            value_start = off + size
            remaining = len(data) - value_start
            patch = patch_u16 if size == 2 else patch_u32
            big = min(remaining + 2, 0xFFFE) if size == 2 else remaining + 2
            # Past Pixel Data a header-only read never looks.
            expect = "fail" if start <= pixel_start else "fail-whole"
            if remaining + 2 <= (0xFFFE if size == 2 else 0xFFFFFFF0):
                corpus.add(f"len_past_end_{name}_{start}.dcm",
                           patch(data, off, big, e), expect,
                           f"{where} element at {start} claims {big} bytes, "
                           f"{remaining} remain")
            if size == 4:
                corpus.add(f"len_huge_{name}_{start}.dcm",
                           patch(data, off, 0xFFFFFFF0, e), expect,
                           f"{where} element at {start} claims 0xFFFFFFF0")
            cur = (struct.unpack_from(e.o + ("H" if size == 2 else "I"),
                                      data, off)[0])
            if cur != UNDEFINED:
                corpus.add(f"len_odd_{name}_{start}.dcm",
                           patch(data, off, cur + 1, e), "any",
                           f"{where} element at {start} length {cur + 1}")
                if cur >= 2:
                    corpus.add(f"len_short_{name}_{start}.dcm",
                               patch(data, off, cur - 2, e), "any",
                               f"{where} element at {start} length {cur - 2}")


def deep_nesting(enc, depth, defined):
    """depth sequences each holding one item that holds the next."""
    if defined:
        # Build from the inside out so each length is known.
        body = el(enc, 0x00100020, b"LO", "deepest")
        for _ in range(depth):
            it = header(enc, 0xFFFEE000, None, len(body)) + body
            body = header(enc, 0x00081115, b"SQ", len(it)) + it
        return body
    head = (header(enc, 0x00081115, b"SQ", UNDEFINED) +
            header(enc, 0xFFFEE000, None, UNDEFINED))
    tail = (header(enc, 0xFFFEE00D, None, 0) +
            header(enc, 0xFFFEE0DD, None, 0))
    return head * depth + el(enc, 0x00100020, b"LO", "deepest") + tail * depth


def add_nesting(corpus):
    for ts, label in ((EXPLICIT_LE, "explicit"), (IMPLICIT_LE, "implicit"),
                      (EXPLICIT_BE, "big")):
        enc = enc_for(ts)
        for defined in (True, False):
            form = "defined" if defined else "undefined"
            base = el(enc, 0x00080016, b"UI", "1.2.840.10008.5.1.4.1.1.7")
            corpus.add(f"nest_10000_{label}_{form}.dcm",
                       part10(ts, base + deep_nesting(enc, 10000, defined)),
                       "fail", f"10,000 nested sequences, {form} length")
            corpus.add(f"nest_32_{label}_{form}.dcm",
                       part10(ts, base + deep_nesting(enc, 32, defined)),
                       "ok", f"32 nested sequences, {form} length")
    # Undefined-length nesting with no delimiters at all before the end.
    enc = LE
    opened = (header(enc, 0x00081115, b"SQ", UNDEFINED) +
              header(enc, 0xFFFEE000, None, UNDEFINED)) * 10000
    corpus.add("nest_10000_unclosed.dcm", part10(EXPLICIT_LE, opened), "fail",
               "10,000 sequences opened, none closed")
    # Deep UN of undefined length (implicit inside).
    un = (header(LE, 0x00091010, b"UN", UNDEFINED) +
          header(ILE, 0xFFFEE000, None, UNDEFINED)) + (
        header(ILE, 0x00091010, None, UNDEFINED) +
        header(ILE, 0xFFFEE000, None, UNDEFINED)) * 9999
    corpus.add("nest_10000_un.dcm", part10(EXPLICIT_LE, un), "fail",
               "10,000 nested UN of undefined length")


def garbage(rng, n):
    return bytes(rng.randrange(256) for _ in range(n))


def add_codec_garbage(corpus, rng):
    """Valid encapsulated wrappers around broken codestreams, for every
    codec, plus broken fragment structure."""
    def wrap(ts, frames, rows=8, cols=8, bits=16, spp=1, nframes=None,
             photometric=None, bot=True):
        ds = image_module(LE, rows, cols, bits, spp, nframes,
                          photometric=photometric or
                          ("RGB" if spp == 3 else "MONOCHROME2"),
                          planar=0 if spp == 3 else None)
        return part10(ts, ds + encapsulated(frames, bot))

    # RLE (PS3.5 G.5): header lies.
    good = rle_frame(8, 8, 16, 1)
    hdr = bytearray(good)
    cases = {
        "rle_no_segments": struct.pack("<I", 0) + b"\0" * 60,
        "rle_16_segments": struct.pack("<I", 16) + b"\0" * 60,
        "rle_segments_mismatch": struct.pack("<II", 1, 64) + b"\0" * 56 +
        b"\x7f" + b"\1" * 128,
        "rle_offset_past_end": struct.pack("<III", 2, 64, 0x7FFFFFFF) +
        b"\0" * 52 + good[64:],
        "rle_offset_before_header": struct.pack("<III", 2, 8, 64) +
        b"\0" * 52 + good[64:],
        "rle_offsets_decreasing": struct.pack("<III", 2, 100, 64) +
        b"\0" * 52 + good[64:],
        "rle_header_only": good[:64],
        "rle_short_header": good[:20],
        "rle_literal_overrun": struct.pack("<III", 2, 64, 66) + b"\0" * 52 +
        b"\x7f\x01" + b"\x7f",
        "rle_replicate_overrun": struct.pack("<III", 2, 64, 68) +
        b"\0" * 52 + b"\x81\x05" * 2 + b"\x81\x05" * 200,
        "rle_garbage": garbage(rng, 300),
        "rle_truncated_segment": bytes(hdr[:len(hdr) // 2]),
    }
    # Decoders clip a segment that decodes to more than its plane (encoders
    # in the wild pad segments), so an overrun may decode.
    lenient = {"rle_replicate_overrun", "rle_literal_overrun"}
    for name, frame in cases.items():
        corpus.add(f"codec_{name}.dcm", wrap(RLE, [frame]),
                   "any" if name in lenient else "fail", f"RLE frame: {name}")
    corpus.add("codec_rle_noop_runs.dcm",
               wrap(RLE, [struct.pack("<III", 2, 64, 64 + 2000) +
                          b"\0" * 52 + b"\x80" * 4000]), "fail",
               "RLE segments of only no-op bytes (-128)")

    # JPEG family: garbage, marker soup, SOF with absurd dimensions.
    sof = lambda n, prec, rows, cols, ncomp: (
        b"\xff" + bytes([0xC0 + n]) + struct.pack(">HBHHB", 8 + 3 * ncomp,
                                                  prec, rows, cols, ncomp) +
        b"".join(bytes([i + 1, 0x11, 0]) for i in range(ncomp)))
    jpeg_cases = {
        "garbage": garbage(rng, 400),
        "soi_only": b"\xff\xd8",
        "soi_eoi": b"\xff\xd8\xff\xd9",
        "marker_soup": b"\xff\xd8" + b"".join(
            b"\xff" + bytes([rng.randrange(0xC0, 0xFF)]) +
            struct.pack(">H", rng.randrange(2, 40)) for _ in range(60)),
        "sof_huge_no_scan": b"\xff\xd8" + sof(0, 8, 65535, 65535, 1) +
        b"\xff\xd9",
        "sof_zero_dims": b"\xff\xd8" + sof(0, 8, 0, 0, 1) + b"\xff\xd9",
        "sof_255_components": b"\xff\xd8" + sof(0, 8, 8, 8, 255) +
        b"\xff\xd9",
        "segment_length_past_end": b"\xff\xd8\xff\xe0\xff\xf0" +
        garbage(rng, 20),
        "sos_without_tables": b"\xff\xd8" + sof(0, 8, 8, 8, 1) +
        b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + garbage(rng, 64) +
        b"\xff\xd9",
    }
    lossless_cases = {
        "sof3_no_huffman": b"\xff\xd8" + sof(3, 16, 8, 8, 1) +
        b"\xff\xda\x00\x08\x01\x01\x00\x01\x00\x00" + garbage(rng, 64) +
        b"\xff\xd9",
        "sof3_predictor_9": b"\xff\xd8" + sof(3, 16, 8, 8, 1) +
        b"\xff\xc4\x00\x14\x00" + b"\x01" + b"\0" * 15 + b"\x00" +
        b"\xff\xda\x00\x08\x01\x01\x00\x09\x00\x00" + garbage(rng, 64) +
        b"\xff\xd9",
        "sof3_precision_1": b"\xff\xd8" + sof(3, 1, 8, 8, 1) + b"\xff\xd9",
        "sof3_precision_17": b"\xff\xd8" + sof(3, 17, 8, 8, 1) +
        b"\xff\xd9",
        "sof3_huffman_overfull": b"\xff\xd8" + sof(3, 16, 8, 8, 1) +
        b"\xff\xc4\x00\x23\x00" + b"\xff" * 16 + b"\0" * 16 +
        b"\xff\xda\x00\x08\x01\x01\x00\x01\x00\x00" + b"\xff" * 64 +
        b"\xff\xd9",
        "sof3_point_transform_15": b"\xff\xd8" + sof(3, 12, 8, 8, 1) +
        b"\xff\xc4\x00\x14\x00" + b"\x01" + b"\0" * 15 + b"\x00" +
        b"\xff\xda\x00\x08\x01\x01\x00\x01\x00\x0f" + b"\0" * 64 +
        b"\xff\xd9",
        "sof3_scan_component_missing": b"\xff\xd8" + sof(3, 16, 8, 8, 1) +
        b"\xff\xc4\x00\x14\x00" + b"\x01" + b"\0" * 15 + b"\x00" +
        b"\xff\xda\x00\x08\x01\x07\x00\x01\x00\x00" + b"\0" * 64 +
        b"\xff\xd9",
    }
    for ts, label, bits in ((JPEG_BASELINE, "jpeg_baseline", 8),
                            (JPEG_EXTENDED, "jpeg_extended", 8),
                            (JPEG_LOSSLESS, "jpeg_lossless", 16),
                            (JPEG_LOSSLESS_SV1, "jpeg_lossless_sv1", 16)):
        cases = dict(jpeg_cases)
        if ts in (JPEG_LOSSLESS, JPEG_LOSSLESS_SV1):
            cases.update(lossless_cases)
        for name, frame in cases.items():
            corpus.add(f"codec_{label}_{name}.dcm",
                       wrap(ts, [frame], bits=bits), "fail",
                       f"{label} frame: {name}")
    # JPEG-LS (ITU-T T.87): SOF55 with absurd parameters, LSE garbage.
    jls_cases = {
        "garbage": garbage(rng, 400),
        "soi_only": b"\xff\xd8",
        "sof55_huge": b"\xff\xd8" + sof(0x37, 16, 65535, 65535, 1) +
        b"\xff\xd9",
        "sof55_precision_1": b"\xff\xd8" + sof(0x37, 1, 8, 8, 1) +
        b"\xff\xd9",
        "sos_near_255": b"\xff\xd8" + sof(0x37, 16, 8, 8, 1) +
        b"\xff\xda\x00\x08\x01\x01\x00\xff\x00\x00" + garbage(rng, 64) +
        b"\xff\xd9",
        "lse_garbage": b"\xff\xd8" + sof(0x37, 16, 8, 8, 1) +
        b"\xff\xf8\x00\x0d\x01" + garbage(rng, 10) + b"\xff\xd9",
    }
    for ts, label in ((JPEG_LS, "jpegls"), (JPEG_LS_NEAR, "jpegls_near")):
        for name, frame in jls_cases.items():
            corpus.add(f"codec_{label}_{name}.dcm", wrap(ts, [frame]), "fail",
                       f"{label} frame: {name}")
    # JPEG 2000 (ITU-T T.800): raw codestream and JP2 box garbage.
    siz = lambda w, h, ncomp, prec: (
        b"\xff\x4f\xff\x51" + struct.pack(">HHIIIIIIIIH", 38 + 3 * ncomp, 0,
                                          w, h, 0, 0, w, h, 0, 0, ncomp) +
        b"".join(bytes([prec - 1, 1, 1]) for _ in range(ncomp)))
    j2k_cases = {
        "garbage": garbage(rng, 400),
        "soc_only": b"\xff\x4f",
        "siz_huge": siz(0xFFFFFFF0, 0xFFFFFFF0, 1, 16) + b"\xff\xd9",
        "siz_zero": siz(0, 0, 1, 16) + b"\xff\xd9",
        "siz_16384_components": siz(8, 8, 16384, 16) + b"\xff\xd9",
        "siz_precision_38": siz(8, 8, 1, 38) + b"\xff\xd9",
        "siz_then_garbage": siz(8, 8, 1, 16) + garbage(rng, 200),
        "jp2_box_garbage": b"\0\0\0\x0cjP  \r\n\x87\n" +
        struct.pack(">I", 0xFFFFFFF0) + b"ftyp" + garbage(rng, 100),
    }
    for ts, label in ((J2K_LOSSLESS, "j2k_lossless"), (J2K, "j2k")):
        for name, frame in j2k_cases.items():
            corpus.add(f"codec_{label}_{name}.dcm", wrap(ts, [frame]), "fail",
                       f"{label} frame: {name}")

    # Fragment structure (PS3.5 A.4).
    def pixel_items(items, delimiter=True):
        out = header(LE, 0x7FE00010, b"OB", UNDEFINED)
        for tag, length, body in items:
            out += header(LE, tag, None, length) + body
        if delimiter:
            out += header(LE, 0xFFFEE0DD, None, 0)
        return out
    ds = image_module(LE, 8, 8, 16, 1)
    frags = {
        "frag_length_huge": ([(0xFFFEE000, 0, b""),
                              (0xFFFEE000, 0xFFFFFFF0, good)], "fail"),
        "frag_length_past_end": ([(0xFFFEE000, 0, b""),
                                  (0xFFFEE000, len(good) + 100, good)],
                                 "fail"),
        "frag_odd_length": ([(0xFFFEE000, 0, b""),
                             (0xFFFEE000, len(good) - 1, good[:-1])], "any"),
        "frag_undefined_length": ([(0xFFFEE000, 0, b""),
                                   (0xFFFEE000, UNDEFINED, good)], "fail"),
        "frag_wrong_tag": ([(0xFFFEE000, 0, b""),
                            (0x00100010, len(good), good)], "fail"),
        "frag_item_delimiter": ([(0xFFFEE000, 0, b""),
                                 (0xFFFEE00D, len(good), good)], "fail"),
        "frag_none": ([(0xFFFEE000, 0, b"")], "fail"),
        "frag_no_bot": ([], "fail"),
        "bot_past_end": ([(0xFFFEE000, 8, struct.pack("<II", 0, 0x7FFFFFF0)),
                          (0xFFFEE000, len(good), good)], "any"),
        "bot_odd_length": ([(0xFFFEE000, 3, b"\0\0\0\0"[:3]),
                            (0xFFFEE000, len(good), good)], "any"),
        "bot_decreasing": ([(0xFFFEE000, 8, struct.pack("<II", 100, 0)),
                            (0xFFFEE000, len(good), good)], "any"),
        "bot_huge_length": ([(0xFFFEE000, 0xFFFFFFF0, b"")], "fail"),
    }
    for name, (items, expect) in frags.items():
        corpus.add(f"{name}.dcm", part10(RLE, ds + pixel_items(items)),
                   expect, f"encapsulated pixel data: {name}")
    corpus.add("frag_no_delimiter.dcm",
               part10(RLE, ds + pixel_items([(0xFFFEE000, 0, b""),
                                             (0xFFFEE000, len(good), good)],
                                            delimiter=False)),
               "fail", "encapsulated pixel data without sequence delimiter")
    many = [(0xFFFEE000, 0, b"")] * 50000
    corpus.add("frag_50000_empty.dcm", part10(RLE, ds + pixel_items(many)),
               "fail", "50,000 empty fragments")
    ds2 = image_module(LE, 8, 8, 16, 1, frames=3)
    corpus.add("frag_fewer_than_frames.dcm",
               part10(RLE, ds2 + encapsulated([good])), "fail",
               "3 frames declared, 1 fragment")


def add_image_lies(corpus):
    """Valid syntax, impossible Image Pixel modules."""
    def native(rows, cols, bits=16, spp=1, frames=None, stored=None,
               pixels=None, signed=0, photometric=None, planar=None,
               ts=EXPLICIT_LE):
        enc = enc_for(ts)
        ds = image_module(enc, rows, cols, bits, spp, frames, signed=signed,
                          photometric=photometric or "MONOCHROME2",
                          planar=planar, stored=stored)
        if pixels is None:
            pixels = b"\1\2" * 32
        return part10(ts, ds + el(enc, 0x7FE00010, b"OW", pixels))

    fail = {
        "rows_cols_4096_short": native(4096, 4096),
        "frames_2147483647": native(8, 8, frames=2147483647),
        "frames_huge_text": native(8, 8, frames="99999999999999999999"),
        "rows_zero": native(0, 8),
        "cols_zero": native(8, 0),
        "bits_allocated_0": native(4, 4, bits=0, stored=0),
        "bits_allocated_7": native(4, 4, bits=7),
        "bits_allocated_64": native(4, 4, bits=64, pixels=b"\0" * 128),
        "bits_allocated_12": native(4, 4, bits=12),
        "bits_stored_above_allocated": native(4, 4, bits=8, stored=16),
        "samples_0": native(4, 4, spp=0),
        "samples_65535": native(4, 4, spp=65535),
        "pixel_data_empty": native(4, 4, pixels=b""),
        "pixel_data_one_byte_short": native(4, 4, pixels=b"\0" * 30),
        "frames_1000_data_for_1": native(4, 4, frames=1000),
    }
    for name, data in fail.items():
        corpus.add(f"image_{name}.dcm", data, "fail", f"image module: {name}")
    anyc = {
        # Decoded frames over 64 MiB are skipped by the walk: only the
        # claims are checked here.
        "rows_65535_cols_65535": native(65535, 65535),
        "frames_zero": native(4, 4, frames=0),
        "frames_negative": native(4, 4, frames=-1),
        "frames_text": native(4, 4, frames="abc"),
        "bits_stored_0": native(4, 4, stored=0),
        "planar_2": native(4, 4, bits=8, spp=3, planar=2,
                           photometric="RGB", pixels=b"\0" * 48),
        "pixel_representation_2": native(4, 4, signed=2),
        "photometric_garbage": native(4, 4, photometric="NOT A COLOUR"),
        "ybr_422_odd_columns": native(3, 5, bits=8, spp=3,
                                      photometric="YBR_FULL_422",
                                      pixels=b"\0" * 60),
        "palette_no_lut": native(4, 4, bits=8, photometric="PALETTE COLOR",
                                 pixels=b"\0" * 16),
        "1bit_long_frames": native(3, 3, bits=1, frames=7,
                                   pixels=b"\xff" * 8),
        "32bit_signed_big": native(4, 4, bits=32, signed=1,
                                   pixels=b"\x80" * 64, ts=EXPLICIT_BE),
        "pixel_data_extra": native(4, 4, pixels=b"\0" * 4000),
    }
    for name, data in anyc.items():
        corpus.add(f"image_{name}.dcm", data, "any", f"image module: {name}")


def add_vr_lies(corpus, rng):
    """Wrong VRs and wrong value lengths for elements Nova interprets."""
    def ds_with(extra_before_rows=b"", rows_el=None, ts=EXPLICIT_LE):
        enc = enc_for(ts)
        out = el(enc, 0x00080016, b"UI", "1.2.840.10008.5.1.4.1.1.7")
        out += extra_before_rows
        out += us(enc, 0x00280002, 1)
        out += el(enc, 0x00280004, b"CS", "MONOCHROME2")
        out += rows_el if rows_el is not None else us(enc, 0x00280010, 4)
        out += us(enc, 0x00280011, 4)
        out += us(enc, 0x00280100, 16) + us(enc, 0x00280101, 16)
        out += us(enc, 0x00280102, 15) + us(enc, 0x00280103, 0)
        out += el(enc, 0x7FE00010, b"OW", b"\0" * 32)
        return part10(ts, out)

    fail = {
        "rows_length_1": header(LE, 0x00280010, b"US", 1) + b"\4" + b" ",
        "rows_length_0": header(LE, 0x00280010, b"US", 0),
        "rows_as_sq": seq(LE, 0x00280010, [item(LE, us(LE, 0x00280010, 4))]),
        "rows_as_sq_empty": seq(LE, 0x00280010, [], defined=False),
        "rows_as_ob": el(LE, 0x00280010, b"OB", b"\4"),
    }
    for name, rows in fail.items():
        corpus.add(f"vr_{name}.dcm", ds_with(rows_el=rows), "fail",
                   f"wrong VR/length: {name}")
    anyc = {
        # Text "4" read as a number: lenient, not wrong.
        "rows_as_ui": el(LE, 0x00280010, b"UI", "4"),
        "vr_unknown_chars": header(LE, 0x00100010, b"zz", 4) + b"ABCD",
        "vr_nul": header(LE, 0x00100010, b"\0\0", 4) + b"ABCD",
        "vr_lowercase": header(LE, 0x00100010, b"pn", 4) + b"ABCD",
        "ds_garbage": el(LE, 0x00201041, b"DS", "1e99999\\nan\\-inf\\0x1p3"),
        "is_overflow": el(LE, 0x00200013, b"IS",
                          "999999999999999999999999\\-"),
        "us_odd_length": header(LE, 0x00181030, b"US", 3) + b"\1\2\3 ",
        "fd_length_5": header(LE, 0x00181050, b"FD", 5) + b"\0" * 5 + b"\0",
        "at_length_2": header(LE, 0x00209165, b"AT", 2) + b"\0\0",
        "charset_bad_escape": el(LE, 0x00080005, b"CS",
                                 "ISO 2022 IR 87\\ISO 2022 IR 149"),
        "charset_1000_terms": el(LE, 0x00080005, b"CS",
                                 "\\".join(["ISO 2022 IR 13"] * 1000)),
        "charset_unknown": el(LE, 0x00080005, b"CS", "NOT_A_CHARSET"),
        "item_at_top_level": header(LE, 0xFFFEE000, None, 4) + b"\0" * 4,
        "seq_delimiter_at_top_level": header(LE, 0xFFFEE0DD, None, 0),
        "item_delimiter_at_top_level": header(LE, 0xFFFEE00D, None, 0),
        "tags_out_of_order": us(LE, 0x00280011, 4) + us(LE, 0x00280010, 4),
        "duplicate_tag": us(LE, 0x00200013, 1) + us(LE, 0x00200013, 2),
        "un_undefined_garbage": header(LE, 0x00291010, b"UN", UNDEFINED) +
        garbage(rng, 64),
        "sq_item_length_lie": seq(LE, 0x00081115, [
            header(LE, 0xFFFEE000, None, 4) + us(LE, 0x00100010, 1)]),
        "sq_defined_item_undefined_overrun": header(LE, 0x00081115, b"SQ",
                                                    16) +
        header(LE, 0xFFFEE000, None, UNDEFINED) + us(LE, 0x00100020, 1) * 4 +
        header(LE, 0xFFFEE00D, None, 0),
    }
    # The charset cases need text to convert.
    text = el(LE, 0x00100010, b"PN", b"\x1b$B\xff\xfe\x1b(B^\x1b$)C\x0e\xff")
    for name, extra in anyc.items():
        corpus.add(f"vr_{name}.dcm", ds_with(extra + text if "charset" in name
                                             else extra), "any",
                   f"wrong VR/structure: {name}")


def add_meta_lies(corpus, rng):
    ds = image_module(LE, 4, 4, 16) + el(LE, 0x7FE00010, b"OW", b"\0" * 32)
    full = part10(EXPLICIT_LE, ds)
    m = meta(EXPLICIT_LE)
    pre = b"\0" * 128 + b"DICM"
    group_len_at = 132 + 8
    cases = {
        # The group length is advisory (PS3.10 7.1; readers walk the
        # group's elements), so a wrong one may be ignored.
        "group_length_huge": (full[:group_len_at] + struct.pack(
            "<I", 0xFFFFFFF0) + full[group_len_at + 4:], "any"),
        "group_length_past_end": (full[:group_len_at] + struct.pack(
            "<I", len(full)) + full[group_len_at + 4:], "any"),
        "group_length_zero": (full[:group_len_at] + struct.pack("<I", 0) +
                              full[group_len_at + 4:], "any"),
        "no_transfer_syntax": (pre + el(LE, 0x00020001, b"OB", b"\0\1") + ds,
                               "any"),
        "unknown_transfer_syntax": (part10("1.2.3.4.5.6.7", ds), "any"),
        "transfer_syntax_200_chars": (part10("1." * 100, ds), "any"),
        "transfer_syntax_binary": (pre + el(LE, 0x00020010, b"UI",
                                            garbage(rng, 64)) + ds, "any"),
        "dicm_only": (pre, "any"),
        "meta_then_nothing": (pre + m, "any"),
        "meta_big_endian_lie": (pre + el(BE, 0x00020010, b"UI",
                                         EXPLICIT_LE) + ds, "any"),
        "deflate_garbage": (pre + meta(DEFLATED) + garbage(rng, 500),
                            "fail"),
        "deflate_empty_stream": (pre + meta(DEFLATED), "any"),
        "deflate_zlib_header": (pre + meta(DEFLATED) + zlib.compress(ds),
                                "fail"),
        "unsupported_syntax_mpeg2": (part10(
            "1.2.840.10008.1.2.4.100",
            image_module(LE, 4, 4, 8) + encapsulated([garbage(rng, 50)])),
            "fail"),
        "unsupported_syntax_jpeg12": (part10(
            "1.2.840.10008.1.2.4.51",
            image_module(LE, 4, 4, 16, stored=12) + encapsulated(
                [b"\xff\xd8\xff\xc1\x00\x0b\x0c\x00\x04\x00\x04\x01\x01"
                 b"\x11\x00\xff\xd9"])), "fail"),
    }
    for name, (data, expect) in cases.items():
        corpus.add(f"meta_{name}.dcm", data, expect, f"meta group: {name}")
    # A deflate bomb: 64 MiB of zeros from about 64 KiB.
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = c.compress(b"\0" * (64 << 20)) + c.flush()
    corpus.add("meta_deflate_bomb.dcm", pre + meta(DEFLATED) + bomb, "any",
               "64 MiB of zeros deflated")


def add_pydicom_mutations(corpus, bases, rng):
    """Byte flips in real files: random bytes, and inside the pixel data
    fragments of compressed ones (codestream corruption)."""
    for name, data in bases.items():
        for k in range(6):
            b = bytearray(data)
            for _ in range(1 + k * 3):
                p = rng.randrange(len(b))
                b[p] = rng.randrange(256)
            corpus.add(f"flip_{name}_{k}.dcm", bytes(b), "any",
                       f"{name} with {1 + k * 3} random bytes changed")
        parsed = parse_file(data)
        if not parsed or parsed[2] in (IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE,
                                       DEFLATED):
            continue
        pix = [e for e in parsed[4] if e[2] == 0x7FE00010]
        if not pix:
            continue
        start, end = pix[0][0], pix[0][1]
        # Truncate the codestream of every frame but keep the wrapper valid.
        try:
            frags = fragments(data, start + 12)
        except (ValueError, struct.error):
            continue
        if len(frags) < 2:
            continue
        for keep in (0.1, 0.5, 0.9):
            out = header(LE, 0x7FE00010, b"OB", UNDEFINED)
            out += header(LE, 0xFFFEE000, None, 0)
            for f in frags[1:]:
                cut = f[:int(len(f) * keep) & ~1]
                out += header(LE, 0xFFFEE000, None, len(cut)) + cut
            out += header(LE, 0xFFFEE0DD, None, 0)
            corpus.add(f"codestream_cut_{name}_{int(keep * 100)}.dcm",
                       data[:start] + out + data[end:], "any",
                       f"{name} with codestreams cut to {keep:.0%}")
        for k in range(4):
            f = bytearray(frags[1])
            for _ in range(4 + 8 * k):
                f[rng.randrange(len(f))] = rng.randrange(256)
            out = header(LE, 0x7FE00010, b"OB", UNDEFINED)
            out += header(LE, 0xFFFEE000, None, 0)
            out += header(LE, 0xFFFEE000, None, len(f)) + bytes(f)
            out += header(LE, 0xFFFEE0DD, None, 0)
            corpus.add(f"codestream_flip_{name}_{k}.dcm",
                       data[:start] + out + data[end:], "any",
                       f"{name} with bytes of frame 0 changed")


def fragments(data, pos):
    """The items of encapsulated Pixel Data starting at pos."""
    out = []
    while True:
        tag, _, length, pos = read_header(data, pos, LE)
        if tag == 0xFFFEE0DD:
            return out
        if tag != 0xFFFEE000 or pos + length > len(data):
            raise ValueError("bad fragment")
        out.append(data[pos:pos + length])
        pos += length


def make_bad(outdir, pydicom_dir):
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(20261129)  # fixed: the corpus is the same each run
    corpus = Corpus(outdir)
    bases = generated_bases()
    real = {}
    if pydicom_dir and os.path.isdir(pydicom_dir):
        for f in PYDICOM_BASES:
            p = os.path.join(pydicom_dir, f)
            if os.path.exists(p):
                with open(p, "rb") as fh:
                    real["pydicom_" + f[:-4]] = fh.read()
    for name, data in bases.items():
        corpus.add(f"valid_{name}.dcm", data, "ok", f"valid {name}")
    add_truncations(corpus, {**bases, **real}, rng)
    add_length_lies(corpus, {**bases, **real})
    add_nesting(corpus)
    add_codec_garbage(corpus, rng)
    add_image_lies(corpus)
    add_vr_lies(corpus, rng)
    add_meta_lies(corpus, rng)
    add_pydicom_mutations(corpus, real, rng)
    corpus.finish()
    print(f"make_bad_corpus: {len(corpus.lines)} files in {outdir}")


# ------------------------------------------------------------------ seeds

def make_seeds(outdir):
    """Tiny valid inputs for the fuzzer (kept small: libFuzzer mutates
    small inputs faster)."""
    os.makedirs(outdir, exist_ok=True)
    seeds = {
        "explicit_le_16bit_2frames.dcm": native_file(EXPLICIT_LE, 4, 4,
                                                     frames=2),
        "implicit_le_8bit.dcm": native_file(IMPLICIT_LE, 4, 4, bits=8),
        "explicit_be_16bit_signed.dcm": native_file(EXPLICIT_BE, 4, 4,
                                                    signed=1),
        "deflated_16bit.dcm": native_file(DEFLATED, 4, 4),
        "rgb_planar.dcm": native_file(EXPLICIT_LE, 4, 4, bits=8, spp=3,
                                      planar=1),
        "1bit_3frames.dcm": native_file(EXPLICIT_LE, 5, 3, bits=1, frames=3),
        "32bit.dcm": native_file(EXPLICIT_LE, 2, 2, bits=32),
        "rle_16bit_2frames.dcm": rle_file(4, 4, frames=2),
        "rle_rgb.dcm": rle_file(4, 4, spp=3, bits=8),
        "sequences_explicit.dcm": sequences_file(EXPLICIT_LE),
        "sequences_implicit.dcm": sequences_file(IMPLICIT_LE),
        "sequences_big.dcm": sequences_file(EXPLICIT_BE),
        "no_preamble.dcm": native_file(EXPLICIT_LE, 2, 2)[128:],
        "no_meta_implicit.dcm": image_module(ILE, 2, 2, 16) +
        native_pixels(ILE, 2, 2, 16),
        "raw_rle_frame.rle": rle_frame(4, 4, 16, 1),
    }
    for name, data in seeds.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    # Compressed copies made by independent encoders, when installed.
    tmp = tempfile.mkdtemp()
    try:
        src8 = os.path.join(tmp, "src8.dcm")
        src16 = os.path.join(tmp, "src16.dcm")
        srcrgb = os.path.join(tmp, "srcrgb.dcm")
        with open(src8, "wb") as f:
            f.write(native_file(EXPLICIT_LE, 8, 8, bits=8))
        with open(src16, "wb") as f:
            f.write(native_file(EXPLICIT_LE, 8, 8, bits=16, stored=12))
        with open(srcrgb, "wb") as f:
            f.write(native_file(EXPLICIT_LE, 8, 8, bits=8, spp=3))
        jobs = [
            ("jpeg_baseline.dcm", ["dcmcjpeg", "+eb", src8]),
            ("jpeg_baseline_rgb.dcm", ["dcmcjpeg", "+eb", srcrgb]),
            ("jpeg_extended.dcm", ["dcmcjpeg", "+ee", src8]),
            ("jpeg_lossless_sv1.dcm", ["dcmcjpeg", "+e1", src16]),
            ("jpeg_lossless_p7.dcm", ["dcmcjpeg", "+el", "+sv", "7",
                                      src16]),
            ("jpegls_lossless.dcm", ["dcmcjpls", "+el", src16]),
            ("jpegls_near.dcm", ["dcmcjpls", "+en", "+md", "2", src16]),
            ("jpegls_rgb.dcm", ["dcmcjpls", "+el", srcrgb]),
            ("rle_dcmtk.dcm", ["dcmcrle", src16]),
            ("j2k_lossless.dcm", ["gdcmconv", "--j2k", src16]),
            ("j2k_rgb.dcm", ["gdcmconv", "--j2k",
                                   srcrgb]),
        ]
        for name, cmd in jobs:
            if not shutil.which(cmd[0]):
                continue
            out = os.path.join(outdir, name)
            r = subprocess.run(cmd + [out], capture_output=True)
            if r.returncode != 0:
                print(f"make_bad_corpus: {cmd[0]} failed for {name}",
                      file=sys.stderr)
                continue
            # The raw codestream too, for the codec-only half of the target.
            with open(out, "rb") as f:
                data = f.read()
            parsed = parse_file(data)
            pix = [e for e in parsed[4] if e[2] == 0x7FE00010] if parsed \
                else []
            if pix:
                frags = fragments(data, pix[0][0] + 12)
                if len(frags) > 1:
                    with open(os.path.join(outdir, name[:-4] + ".raw"),
                              "wb") as f:
                        f.write(frags[1])
    finally:
        shutil.rmtree(tmp)
    print(f"make_bad_corpus: {len(os.listdir(outdir))} seeds in {outdir}")


def main(argv):
    if len(argv) >= 3 and argv[1] == "--seeds":
        make_seeds(argv[2])
        return 0
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    pydicom_dir = None
    if "--pydicom-files" in argv:
        pydicom_dir = argv[argv.index("--pydicom-files") + 1]
    make_bad(argv[1], pydicom_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
