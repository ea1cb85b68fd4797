#!/usr/bin/python3
"""test_net.py NOVA - Nova as a DICOM node against real peers.  TAP output.

Every server is started by this script on 127.0.0.1 with a free port and
stopped at the end.  Test instances are made here with pydicom (CT, 256x256,
so that PDV fragmentation happens with small maximum PDU lengths) and
compressed with DCMTK (dcmcjpeg JPEG lossless, dcmcrle RLE).

- DCMTK echoscu and `nova echo` get C-ECHO success from `nova serve`;
- DCMTK storescu sends in explicit LE, implicit LE (-xi: storescu
  transcodes), JPEG lossless (-xs) and RLE (-xr) to `nova serve --max-pdu
  4096`: every stored file is compared element by element with its
  original by pydicom, its transfer syntax is the one negotiated
  (compressed stays compressed, pixel bytes identical);
- the SQLite index counts studies/series/instances exactly; a repeated
  send is idempotent; a series declaring its count (0020,1209) completes
  with reason declared-count, the others with reason timeout;
- `nova send` delivers all the files to DCMTK storescp (-pdu 4096, +xa) in
  their own transfer syntaxes, and to an implicit-only storescp (+xi)
  re-encoded; compared element by element;
- failure statuses: a dataset that differs from its command gets A900, a
  dataset that does not parse gets C000, and `nova send` exits 1;
- association policy: an unknown calling AE and a wrong called AE are
  rejected; user identity negotiation is answered where asked;
- hostile PDUs (wrong lengths, truncated, out-of-order, oversized, unknown
  types): each association gets an A-ABORT, and the server still serves;
- ARTIM and idle timeouts abort; --max-associations rejects the extra one;
- Orthanc (Debian, temporary configuration): `nova send` to it, and it
  forwards to `nova serve` through its own modality configuration;
- DICOM over TLS with mutual certificates (storescu, nova echo, nova send
  to storescp in TLS mode);
- kill -9 in the middle of two storescu senders, restart: every instance
  whose sender got success is indexed, on disk and equal; no partial file;
  the restart finds the open-store marker and reconciles, after which
  index and disk hold the same instances;
- SIGTERM lets a running association finish; exit 0; a restart reads the
  same index.
"""
import os
import re
import select
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid
except ImportError:
    print("1..0 # SKIP numpy/pydicom missing")
    sys.exit(0)

NOVA = sys.argv[1]
TOOLS = ["echoscu", "storescu", "storescp", "dcmcjpeg", "dcmcrle"]
for tool in TOOLS:
    if subprocess.run(["which", tool], capture_output=True).returncode:
        print("1..0 # SKIP DCMTK %s missing (apt-get install dcmtk)" % tool)
        sys.exit(0)

CT = "1.2.840.10008.5.1.4.1.1.2"
IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.70"
RLE = "1.2.840.10008.1.2.5"

results = []
procs = []


def case(name, fn):
    try:
        msg = fn()
        results.append(("ok", name + (" # " + msg if msg else "")))
        if msg and msg.startswith("SKIP"):
            return
    except Exception as e:  # noqa: BLE001 - any failure is "not ok"
        results.append(("not ok", "%s: %s" % (name, e)))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ------------------------------------------------------------ test data

def make_instance(path, study, series, number, rng, declared=None,
                  series_number=1, size=256):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = "CT"
    ds.PatientName = "Net^Test"
    ds.PatientID = "NET001"
    ds.StudyDate = "20260101"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = number
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.ImagePositionPatient = [0.0, 0.0, float(number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 1.0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    if declared:
        ds.NumberOfSeriesRelatedInstances = declared
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = generate_uid()
    code = Dataset()
    code.CodeValue = "121311"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Localizer"
    ref.PurposeOfReferenceCodeSequence = [code]
    ds.ReferencedImageSequence = [ref]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    pixels = rng.integers(0, 4096, size=(size, size), dtype=numpy.uint16)
    ds.PixelData = pixels.tobytes()
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)
    return ds.SOPInstanceUID


def read(path):
    return pydicom.dcmread(path)


def compare(orig_path, stored_path, ts=None):
    a, b = read(orig_path), read(stored_path)
    if ts:
        check(str(b.file_meta.TransferSyntaxUID) == ts,
              "%s stored in %s, expected %s" %
              (stored_path, b.file_meta.TransferSyntaxUID, ts))
    check(b.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID,
          "meta SOP instance differs")
    ta = [e.tag for e in a]
    tb = [e.tag for e in b]
    check(ta == tb, "element lists differ: %s" %
          sorted(set(ta) ^ set(tb)))
    for e in a:
        other = b[e.tag]
        if e.tag == 0x7FE00010:
            check(e.value == other.value, "PixelData bytes differ")
        else:
            check(e.value == other.value, "%s differs: %r vs %r" %
                  (e.tag, e.value, other.value))


# ------------------------------------------------------------ servers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_serve(storage, log, *extra):
    logf = open(log, "a")
    p = subprocess.Popen([NOVA, "serve", "--dicom-port", "0", "--bind",
                          "127.0.0.1", "--ae-title", "NOVA", "--storage",
                          storage] + list(extra),
                         stdout=subprocess.PIPE, stderr=logf, text=True)
    procs.append(p)
    r, _, _ = select.select([p.stdout], [], [], 20)
    check(r, "nova serve printed no port")
    line = p.stdout.readline()
    check("listening on 127.0.0.1:" in line, "nova serve said %r" % line)
    return p, int(line.rsplit(":", 1)[1])


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def wait_listening(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nothing listens on %d" % port)


def dcmtk(*args):
    return subprocess.run(list(args), capture_output=True, text=True,
                          timeout=60)


def stored_files(storage):
    out = {}
    for root, dirs, files in os.walk(storage):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.endswith(".dcm"):
                out[f[:-4]] = os.path.join(root, f)
    return out


def index(storage, query):
    db = sqlite3.connect(os.path.join(storage, "index.sqlite"))
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


# ------------------------------------------------------------ hostile PDUs

APP = b"1.2.840.10008.3.1.1.1"
VERIF = b"1.2.840.10008.1.1"


def item(t, body):
    return bytes([t, 0]) + struct.pack(">H", len(body)) + body


def assoc_rq(called=b"NOVA", calling=b"HOSTILE", contexts=None,
             max_pdu=16384, extra_user=b"", extra_items=b""):
    if contexts is None:
        contexts = [(1, VERIF, [IMPLICIT.encode()])]
    var = item(0x10, APP)
    for cid, abstract, tss in contexts:
        var += item(0x20, bytes([cid, 0, 0, 0]) + item(0x30, abstract) +
                    b"".join(item(0x40, t) for t in tss))
    var += extra_items
    var += item(0x50, item(0x51, struct.pack(">I", max_pdu)) +
                item(0x52, b"1.2.3.4") + extra_user)
    body = (struct.pack(">H", 1) + b"\0\0" + called.ljust(16) +
            calling.ljust(16) + b"\0" * 32 + var)
    return bytes([1, 0]) + struct.pack(">I", len(body)) + body


def element(group, elem, value):
    if len(value) % 2:
        value += b"\0"
    return struct.pack("<HHI", group, elem, len(value)) + value


def echo_command(message_id=1, group_ok=True):
    body = (element(0, 0x0002, VERIF) +
            element(0, 0x0100, struct.pack("<H", 0x0030)) +
            element(0, 0x0110, struct.pack("<H", message_id)) +
            element(0, 0x0800, struct.pack("<H", 0x0101)))
    cmd = element(0, 0, struct.pack("<I", len(body))) + body
    if not group_ok:
        cmd += element(8, 0x0018, b"1.2.3")
    return cmd


def pdata(cid, mch, data, pdv_len=None):
    n = len(data) + 2 if pdv_len is None else pdv_len
    pdv = struct.pack(">I", n) + bytes([cid, mch]) + data
    return b"\x04\x00" + struct.pack(">I", len(pdv)) + pdv


def read_pdu(sock, timeout=10):
    sock.settimeout(timeout)
    head = b""
    while len(head) < 6:
        chunk = sock.recv(6 - len(head))
        if not chunk:
            return None, b""
        head += chunk
    n = struct.unpack(">I", head[2:6])[0]
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body))
        if not chunk:
            break
        body += chunk
    return head[0], body


HOSTILE = [
    # (name, bytes after a successful association or None, raw bytes)
    ("unknown PDU type", None, b"\x09\x00\x00\x00\x00\x04abcd"),
    ("P-DATA before association", None, pdata(1, 3, echo_command())),
    ("A-ASSOCIATE-RQ length 4 GiB", None,
     b"\x01\x00\xff\xff\xff\xf0" + b"\0" * 64),
    ("A-ASSOCIATE-RQ truncated", None, assoc_rq()[:50]),
    ("A-ASSOCIATE-RQ item longer than the PDU", None,
     (lambda b: b"\x01\x00" + struct.pack(">I", len(b)) + b)(
         assoc_rq()[6:74] + b"\x10\x00\x7f\xff" + APP)),
    ("A-ASSOCIATE-RQ too short for its fixed part", None,
     b"\x01\x00\x00\x00\x00\x10" + b"\0" * 16),
    ("A-ASSOCIATE-RQ context item length under 4", None,
     assoc_rq(extra_items=b"\x20\x00\x00\x02\x01\x00")),
    ("A-ASSOCIATE-RQ with 200 contexts", None,
     assoc_rq(contexts=[(i % 256 | 1, VERIF, [IMPLICIT.encode()])
                        for i in range(200)])),
    ("A-ASSOCIATE-RQ UID with letters", None,
     assoc_rq(contexts=[(1, b"1.2.abc", [IMPLICIT.encode()])])),
    ("A-RELEASE-RQ with length 8", b"", b"\x05\x00\x00\x00\x00\x08" +
     b"\0" * 8),
    ("second A-ASSOCIATE-RQ", b"", assoc_rq()),
    ("PDV length 0", b"", pdata(1, 3, echo_command(), pdv_len=0)),
    ("PDV length past the PDU", b"", pdata(1, 3, echo_command(),
                                          pdv_len=5000)),
    ("dataset fragment first", b"", pdata(1, 2, b"\x08\x00\x18\x00")),
    ("PDV on a context never proposed", b"", pdata(7, 3, echo_command())),
    ("command element outside group 0000", b"",
     pdata(1, 3, echo_command(group_ok=False))),
    ("command element length past its end", b"",
     pdata(1, 3, echo_command()[:-6] + struct.pack("<I", 100) +
           echo_command()[-2:])),
    ("P-DATA over the maximum PDU", b"",
     b"\x04\x00\x00\xa0\x00\x00" + b"\0" * 32),
    ("A-ASSOCIATE-AC from a requester", b"",
     b"\x02" + assoc_rq()[1:]),
    ("truncated P-DATA then close", b"", pdata(1, 3, echo_command())[:20]),
]


def hostile_case(port, name, after, raw):
    s = socket.create_connection(("127.0.0.1", port), 5)
    try:
        if after is not None:
            s.sendall(assoc_rq())
            t, _ = read_pdu(s)
            check(t == 2, "%s: no A-ASSOCIATE-AC (got %r)" % (name, t))
        s.sendall(raw)
        if name.startswith("truncated") or name.endswith("truncated"):
            s.shutdown(socket.SHUT_WR)
        t, body = read_pdu(s)
        check(t == 7, "%s: expected A-ABORT, got PDU type %r" % (name, t))
    finally:
        s.close()


# ------------------------------------------------------------ the run

def main():
    tmp = tempfile.mkdtemp(prefix="nova-net-")
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    rng = numpy.random.default_rng(8)
    study_a, study_b = generate_uid(), generate_uid()
    s_a1, s_a2, s_b1, s_b2 = (generate_uid() for _ in range(4))
    files = {"a1": [], "a2": [], "b1": [], "b2": []}
    for i in range(3):
        p = os.path.join(src, "a1_%d.dcm" % i)
        make_instance(p, study_a, s_a1, i + 1, rng)
        files["a1"].append(p)
    for i in range(2):
        p = os.path.join(src, "a2_%d.dcm" % i)
        make_instance(p, study_a, s_a2, i + 1, rng, declared=2,
                      series_number=2)
        files["a2"].append(p)
    for i, key in enumerate(["b1", "b2"]):
        native = os.path.join(src, "%s_native.dcm" % key)
        make_instance(native, study_b, s_b1 if key == "b1" else s_b2, 1,
                      rng, series_number=i + 1)
        out = os.path.join(src, "%s.dcm" % key)
        tool = ["dcmcjpeg"] if key == "b1" else ["dcmcrle"]
        r = dcmtk(*(tool + [native, out]))
        check(r.returncode == 0, "%s failed: %s" % (tool[0], r.stderr))
        os.unlink(native)
        files[key].append(out)
    uid_of = {p: str(read(p).SOPInstanceUID)
              for ps in files.values() for p in ps}

    storage = os.path.join(tmp, "store")
    log = os.path.join(tmp, "serve.log")
    serve, port = start_serve(storage, log, "--max-pdu", "4096",
                              "--complete-after", "1", "--allow-aet",
                              "STORESCU", "--allow-aet", "ECHOSCU",
                              "--allow-aet", "NOVA", "--allow-aet",
                              "HOSTILE")

    def t_echo():
        r = dcmtk("echoscu", "-aec", "NOVA", "127.0.0.1", str(port))
        check(r.returncode == 0, "echoscu: %s" % r.stderr)
        r = subprocess.run([NOVA, "echo", "127.0.0.1:%d" % port,
                            "--called-aet", "NOVA"], capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0 and "success" in r.stdout,
              "nova echo: %s %s" % (r.stdout, r.stderr))
    case("echoscu and nova echo get C-ECHO success", t_echo)

    sends = [("explicit LE", ["-xe"], files["a1"], EXPLICIT),
             ("implicit LE", ["-xi"], files["a2"], IMPLICIT),
             ("JPEG lossless", ["-xs"], files["b1"], JPEG_LOSSLESS),
             ("RLE", ["-xr"], files["b2"], RLE)]
    for label, opts, paths, ts in sends:
        def t_store(opts=opts, paths=paths, ts=ts):
            r = dcmtk(*(["storescu", "-aec", "NOVA"] + opts +
                        ["127.0.0.1", str(port)] + paths))
            check(r.returncode == 0, "storescu: %s" % r.stderr)
            stored = stored_files(storage)
            for p in paths:
                uid = uid_of[p]
                check(uid in stored, "%s not stored" % uid)
                compare(p, stored[uid], ts)
        case("storescu %s -> nova serve: stored, element by element equal"
             % label, t_store)

    def t_index():
        check(index(storage, "SELECT count(*) FROM studies") == [(2,)],
              "studies %r" % index(storage, "SELECT count(*) FROM studies"))
        check(index(storage, "SELECT count(*) FROM series") == [(4,)],
              "series")
        check(index(storage, "SELECT count(*) FROM instances") == [(7,)],
              "instances")
        rows = dict(index(storage,
                          "SELECT series_uid, n_instances FROM series"))
        check(rows == {s_a1: 3, s_a2: 2, s_b1: 1, s_b2: 1},
              "series counts %r" % rows)
        rows = dict(index(storage,
                          "SELECT study_uid, n_instances FROM studies"))
        check(rows == {study_a: 5, study_b: 2}, "study counts %r" % rows)
    case("index counts studies, series and instances exactly", t_index)

    def t_repeat():
        r = dcmtk("storescu", "-aec", "NOVA", "127.0.0.1", str(port),
                  *files["a1"])
        check(r.returncode == 0, "storescu: %s" % r.stderr)
        check(index(storage, "SELECT count(*) FROM instances") == [(7,)],
              "instances changed")
        check(index(storage, "SELECT n_instances FROM series WHERE "
                    "series_uid = '%s'" % s_a1) == [(3,)], "series count")
    case("a repeated instance is idempotent (success, counts unchanged)",
         t_repeat)

    def t_complete():
        end = time.time() + 10
        while time.time() < end:
            rows = dict(index(storage, "SELECT series_uid, complete_reason "
                              "FROM series"))
            if all(rows.values()):
                break
            time.sleep(0.2)
        check(rows[s_a2] == "declared-count", "a2: %r" % rows[s_a2])
        check(rows[s_a1] == "timeout", "a1: %r" % rows[s_a1])
        check(rows[s_b1] == "timeout", "b1: %r" % rows[s_b1])
        with open(log) as f:
            text = f.read()
        check("series complete (declared-count)" in text and s_a2 in text,
              "completion not published")
    case("series completion: declared count and timeout, with reasons",
         t_complete)

    def t_statuses():
        # A900: the meta group names another SOP instance than the dataset.
        # (bytes patched: pydicom would refill the meta from the dataset)
        uid = uid_of[files["a1"][0]].encode()
        other = uid[:-1] + (b"1" if uid[-1:] != b"1" else b"2")
        with open(files["a1"][0], "rb") as f:
            raw = f.read()
        at = raw.index(uid, 132)
        check(at < 400, "meta UID not found")
        bad = os.path.join(tmp, "mismatch.dcm")
        with open(bad, "wb") as f:
            f.write(raw[:at] + other + raw[at + len(uid):])
        r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % port, "--aet",
                            "NOVA", "--called-aet", "NOVA", bad],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 1 and "A900" in r.stderr,
              "mismatch: rc %d %s" % (r.returncode, r.stderr))
        # C000: a valid meta group followed by bytes that are no dataset.
        with open(files["a1"][1], "rb") as f:
            raw = f.read()
        meta_end = 132 + 12 + struct.unpack("<I", raw[140:144])[0]
        garbage = os.path.join(tmp, "garbage.dcm")
        with open(garbage, "wb") as f:
            f.write(raw[:meta_end] + b"\x08\x00\x18\x00UI\xff\xff" +
                    b"1.2" * 10)
        r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % port, "--aet",
                            "NOVA", "--called-aet", "NOVA", garbage],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 1 and "C000" in r.stderr,
              "garbage: rc %d %s" % (r.returncode, r.stderr))
        check(index(storage, "SELECT count(*) FROM instances") == [(7,)],
              "a failed instance reached the index")
    case("failure statuses A900 and C000 reach the sender", t_statuses)

    def t_policy():
        r = dcmtk("echoscu", "-aet", "INTRUDER", "-aec", "NOVA",
                  "127.0.0.1", str(port))
        check(r.returncode != 0, "unknown calling AE accepted")
        r = dcmtk("echoscu", "-aec", "OTHER", "127.0.0.1", str(port))
        check(r.returncode != 0, "wrong called AE accepted")
        s = socket.create_connection(("127.0.0.1", port), 5)
        ident = item(0x58, bytes([1, 1]) + struct.pack(">H", 4) + b"user" +
                     struct.pack(">H", 0))
        s.sendall(assoc_rq(extra_user=ident))
        t, body = read_pdu(s)
        s.sendall(b"\x05\x00\x00\x00\x00\x04\0\0\0\0")
        t2, _ = read_pdu(s)
        s.close()
        check(t == 2, "user identity: PDU %r" % t)
        check(b"\x59\x00\x00\x02\x00\x00" in body,
              "no user identity response in the A-ASSOCIATE-AC")
        check(t2 == 6, "release answered with %r" % t2)
    case("calling/called AE checks reject; user identity answered",
         t_policy)

    def t_hostile():
        for name, after, raw in HOSTILE:
            hostile_case(port, name, after, raw)
        r = dcmtk("echoscu", "-aec", "NOVA", "127.0.0.1", str(port))
        check(r.returncode == 0, "server no longer answers")
        check(serve.poll() is None, "server exited")
    case("%d hostile PDUs: each aborted, server keeps serving" %
         len(HOSTILE), t_hostile)

    def t_limits():
        # ARTIM and idle timeouts, and the association limit, on a second
        # server with 1 s timers and room for one association.
        lstore = os.path.join(tmp, "limits")
        srv, lport = start_serve(lstore, os.path.join(tmp, "limits.log"),
                                 "--artim-timeout", "1", "--idle-timeout",
                                 "1", "--max-associations", "1")
        try:
            s1 = socket.create_connection(("127.0.0.1", lport), 5)
            t0 = time.time()
            t, _ = read_pdu(s1, timeout=10)
            s1.close()
            check(t == 7 and time.time() - t0 < 5,
                  "ARTIM: PDU %r after %.1f s" % (t, time.time() - t0))
            # The slot is free once the server logged that association.
            end = time.time() + 5
            while time.time() < end:
                with open(os.path.join(tmp, "limits.log")) as f:
                    if "aborted after" in f.read():
                        break
                time.sleep(0.05)
            time.sleep(0.3)  # logged just before the slot is released
            s2 = socket.create_connection(("127.0.0.1", lport), 5)
            s2.sendall(assoc_rq())
            t, _ = read_pdu(s2)
            check(t == 2, "no A-ASSOCIATE-AC: %r" % t)
            # One association open: the next one is refused.
            r = dcmtk("echoscu", "-aec", "NOVA", "127.0.0.1", str(lport))
            check(r.returncode != 0, "association over the limit accepted")
            t0 = time.time()
            t, _ = read_pdu(s2, timeout=10)
            s2.close()
            check(t == 7 and time.time() - t0 < 5,
                  "idle: PDU %r after %.1f s" % (t, time.time() - t0))
            time.sleep(0.2)
            r = dcmtk("echoscu", "-aec", "NOVA", "127.0.0.1", str(lport))
            check(r.returncode == 0, "no association after the limit freed")
        finally:
            check(stop(srv) == 0, "nova serve exit")
        with open(os.path.join(tmp, "limits.log")) as f:
            text = f.read()
        check("rejected" in text, "no rejected association in the log")
    case("ARTIM and idle timeouts abort; --max-associations rejects the "
         "one too many", t_limits)

    # nova send -> DCMTK storescp, every syntax, 4096-byte PDUs.
    def t_send_storescp():
        out = os.path.join(tmp, "storescp")
        os.makedirs(out)
        sport = free_port()
        p = subprocess.Popen(["storescp", "-aet", "STORESCP", "+xa", "-pdu",
                              "4096", "-od", out, str(sport)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        try:
            wait_listening(sport)
            allf = [q for ps in files.values() for q in ps]
            r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % sport,
                                "--aet", "NOVA", "--called-aet", "STORESCP"]
                               + allf, capture_output=True, text=True,
                               timeout=60)
            check(r.returncode == 0, "nova send: %s %s" %
                  (r.stdout, r.stderr))
            check("7 stored" in r.stdout, r.stdout)
            got = {}
            for f in os.listdir(out):
                d = read(os.path.join(out, f))
                got[str(d.SOPInstanceUID)] = os.path.join(out, f)
            for q in allf:
                uid = uid_of[q]
                check(uid in got, "%s not received" % uid)
                compare(q, got[uid], str(read(q).file_meta.TransferSyntaxUID))
        finally:
            p.terminate()
            p.wait()
    case("nova send -> storescp: all syntaxes, element by element equal",
         t_send_storescp)

    def t_orthanc():
        if not os.path.exists("/usr/sbin/Orthanc"):
            return "SKIP Orthanc missing (apt-get install orthanc)"
        ostore = os.path.join(tmp, "from-orthanc")
        srv, nport = start_serve(ostore, os.path.join(tmp, "orthanc.log"),
                                 "--allow-aet", "ORTHANC")
        odir = os.path.join(tmp, "orthanc")
        os.makedirs(odir)
        lua = os.path.join(odir, "forward.lua")
        with open(lua, "w") as f:
            f.write("function OnStoredInstance(id, tags, metadata, origin)\n"
                    "  SendToModality(id, 'nova')\n"
                    "end\n")
        oport = free_port()
        # Orthanc 1.10 has no bind-address option: HTTP is off, and only
        # the AE NOVA on 127.0.0.1 may store (DicomAlwaysAllowStore off).
        config = {
            "Name": "NovaTest", "StorageDirectory": odir + "/db",
            "IndexDirectory": odir + "/db", "StorageCompression": False,
            "HttpServerEnabled": False, "DicomServerEnabled": True,
            "DicomAet": "ORTHANC", "DicomPort": oport,
            "DicomCheckCalledAet": True, "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowEcho": False, "DicomCheckModalityHost": True,
            "DicomModalities": {"nova": ["NOVA", "127.0.0.1", nport]},
            "LuaScripts": [lua], "Plugins": [],
            "RemoteAccessAllowed": False, "AuthenticationEnabled": True,
            "RegisteredUsers": {}}
        cfg = os.path.join(odir, "orthanc.json")
        import json
        with open(cfg, "w") as f:
            json.dump(config, f)
        ologf = open(os.path.join(odir, "orthanc.log"), "w")
        orth = subprocess.Popen(["/usr/sbin/Orthanc", cfg], stdout=ologf,
                                stderr=subprocess.STDOUT)
        procs.append(orth)
        try:
            wait_listening(oport, 30)
            allf = [q for ps in files.values() for q in ps]
            r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % oport,
                                "--aet", "NOVA", "--called-aet", "ORTHANC"]
                               + allf, capture_output=True, text=True,
                               timeout=60)
            check(r.returncode == 0 and "7 stored" in r.stdout,
                  "nova send -> Orthanc: %s %s" % (r.stdout, r.stderr))
            got = {}
            for root, _, fs in os.walk(odir + "/db"):
                for f in fs:
                    q = os.path.join(root, f)
                    try:
                        d = pydicom.dcmread(q)
                    except Exception:  # noqa: BLE001 - the index files
                        continue
                    got[str(d.SOPInstanceUID)] = q
            for q in allf:
                check(uid_of[q] in got, "Orthanc lacks %s" % uid_of[q])
                compare(q, got[uid_of[q]])
            # Orthanc forwards each instance to Nova (Lua, its modality
            # configuration); wait for all seven in Nova's index.
            end = time.time() + 30
            n = 0
            while time.time() < end and n < 7:
                time.sleep(0.2)
                try:
                    n = index(ostore, "SELECT count(*) FROM instances")[0][0]
                except sqlite3.Error:
                    n = 0
            check(n == 7, "Nova got %d of 7 from Orthanc" % n)
            stored = stored_files(ostore)
            for q in allf:
                compare(q, stored[uid_of[q]])
        finally:
            orth.terminate()
            orth.wait(timeout=20)
            ologf.close()
            check(stop(srv) == 0, "nova serve exit")
    case("nova send -> Orthanc -> (Orthanc's modality config) -> nova "
         "serve: element by element equal", t_orthanc)

    def t_tls():
        if subprocess.run(["which", "openssl"], capture_output=True).returncode:
            return "SKIP openssl command missing"
        tdir = os.path.join(tmp, "tls")
        os.makedirs(tdir)
        for who in ("server", "client"):
            r = subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", os.path.join(tdir, who + ".key"), "-out",
                 os.path.join(tdir, who + ".crt"), "-subj", "/CN=" + who,
                 "-days", "2"], capture_output=True, timeout=60)
            check(r.returncode == 0, "openssl req failed")
        key = {w: os.path.join(tdir, w + ".key") for w in ("server", "client")}
        crt = {w: os.path.join(tdir, w + ".crt") for w in ("server", "client")}
        tstore = os.path.join(tmp, "tls-store")
        srv, tport = start_serve(tstore, os.path.join(tmp, "tls.log"),
                                 "--tls-cert", crt["server"], "--tls-key",
                                 key["server"], "--tls-ca", crt["client"])
        try:
            r = dcmtk("storescu", "+tls", key["client"], crt["client"],
                      "+cf", crt["server"], "-aec", "NOVA", "127.0.0.1",
                      str(tport), *files["a1"])
            check(r.returncode == 0, "storescu over TLS: %s" % r.stderr)
            stored = stored_files(tstore)
            for q in files["a1"]:
                compare(q, stored[uid_of[q]], EXPLICIT)
            echo = [NOVA, "echo", "127.0.0.1:%d" % tport, "--called-aet",
                    "NOVA", "--tls-ca", crt["server"]]
            r = subprocess.run(echo + ["--tls-cert", crt["client"],
                                       "--tls-key", key["client"]],
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 0, "nova echo over TLS: %s" % r.stderr)
            r = subprocess.run(echo, capture_output=True, text=True,
                               timeout=30)
            check(r.returncode == 1, "client without certificate accepted")
            r = dcmtk("echoscu", "-aec", "NOVA", "127.0.0.1", str(tport))
            check(r.returncode != 0, "plain TCP accepted on the TLS port")
        finally:
            check(stop(srv) == 0, "nova serve exit")
        out = os.path.join(tmp, "storescp-tls")
        os.makedirs(out)
        sport = free_port()
        p = subprocess.Popen(["storescp", "+tls", key["server"],
                              crt["server"], "+cf", crt["client"], "+xa",
                              "-aet", "STORESCP", "-od", out, str(sport)],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        try:
            wait_listening(sport)
            r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % sport,
                                "--aet", "NOVA", "--called-aet", "STORESCP",
                                "--tls-ca", crt["server"], "--tls-cert",
                                crt["client"], "--tls-key", key["client"]]
                               + files["b1"] + files["a2"],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 0, "nova send over TLS: %s" % r.stderr)
            got = {str(read(os.path.join(out, f)).SOPInstanceUID):
                   os.path.join(out, f) for f in os.listdir(out)}
            for q in files["b1"] + files["a2"]:
                compare(q, got[uid_of[q]])
        finally:
            p.terminate()
            p.wait()
    case("DICOM over TLS (mutual certificates): storescu and nova echo to "
         "nova serve, nova send to storescp", t_tls)

    def t_kill9():
        # Two storescu senders; the server is killed with SIGKILL once a
        # third of the instances are in the index, then restarted.
        kdir = os.path.join(tmp, "kill")
        os.makedirs(kdir)
        study = generate_uid()
        paths = []
        for k in range(2):
            series = generate_uid()
            for i in range(75):
                q = os.path.join(kdir, "k%d_%03d.dcm" % (k, i))
                make_instance(q, study, series, i + 1, rng, size=64)
                paths.append(q)
        kstore = os.path.join(tmp, "kill-store")
        klog = os.path.join(tmp, "kill.log")
        srv, kport = start_serve(kstore, klog)
        senders, outs = [], []
        for k in range(2):
            out = open(os.path.join(tmp, "storescu%d.log" % k), "w+")
            outs.append(out)
            senders.append(subprocess.Popen(
                ["storescu", "-v", "-aec", "NOVA", "127.0.0.1", str(kport)]
                + paths[75 * k:75 * (k + 1)], stdout=out,
                stderr=subprocess.STDOUT))
        end = time.time() + 30
        while time.time() < end:
            try:
                n = index(kstore, "SELECT count(*) FROM instances")[0][0]
            except sqlite3.Error:
                n = 0
            if n >= 50:
                break
            time.sleep(0.005)
        srv.kill()
        srv.wait()
        for sp in senders:
            sp.wait(timeout=30)
        acked = []
        for out in outs:
            out.seek(0)
            current = None
            for line in out:
                if "Sending file: " in line:
                    current = line.split("Sending file: ", 1)[1].strip()
                elif "Received Store Response (Success)" in line and current:
                    acked.append(current)
                    current = None
            out.close()
        check(0 < len(acked) < len(paths),
              "kill not mid-load: %d of %d acknowledged" %
              (len(acked), len(paths)))
        check(os.path.exists(os.path.join(kstore, ".running")),
              "no open-store marker after SIGKILL")
        srv, kport = start_serve(kstore, klog)
        check(stop(srv) == 0, "restart after SIGKILL failed")
        with open(klog) as f:
            reconciled = re.search(r"not closed cleanly; \d+ instance files "
                                   r"checked, (\d+) added", f.read())
        check(reconciled, "restart did not reconcile the store")
        check(not os.path.exists(os.path.join(kstore, ".running")),
              "open-store marker left after a clean stop")
        rows = dict(index(kstore, "SELECT sop_instance_uid, path FROM "
                          "instances"))
        for q in acked:
            uid = str(read(q).SOPInstanceUID)
            check(uid in rows, "acknowledged %s missing from the index" % uid)
            compare(q, os.path.join(kstore, rows[uid]))
        for uid, rel in rows.items():
            check(os.path.exists(os.path.join(kstore, rel)),
                  "index row without file: %s" % rel)
        on_disk = stored_files(kstore)
        for uid, f in on_disk.items():
            read(f)  # every visible file is complete
            # A file durable under its final name but not yet indexed at
            # the kill (or whose row a power loss would have lost) is
            # indexed again by the restart.
            check(uid in rows, "file on disk not in the index: %s" % f)
        check(len(rows) == len(on_disk), "index %d rows, disk %d files" %
              (len(rows), len(on_disk)))
        check(os.listdir(os.path.join(kstore, ".tmp")) == [],
              "partial files left in .tmp")
        parts = [f for r, ds, fs in os.walk(kstore) for f in fs
                 if f.endswith(".part")]
        check(parts == [], "temporary files left: %r" % parts)
        return ("%d of %d acknowledged before SIGKILL, all durable; %d of "
                "%d files re-indexed at restart" % (
                    len(acked), len(paths), int(reconciled.group(1)),
                    len(on_disk)))
    case("kill -9 mid-load: every acknowledged instance on disk and "
         "indexed, no partial file", t_kill9)

    def t_sigterm_drain():
        # SIGTERM while a storescu association is sending: the server stops
        # listening but lets that association finish, then exits 0.
        ddir = os.path.join(tmp, "drain")
        os.makedirs(ddir)
        study, series = generate_uid(), generate_uid()
        paths = []
        for i in range(40):
            q = os.path.join(ddir, "d%02d.dcm" % i)
            make_instance(q, study, series, i + 1, rng, size=64)
            paths.append(q)
        dstore = os.path.join(tmp, "drain-store")
        srv, dport = start_serve(dstore, os.path.join(tmp, "drain.log"))
        sender = subprocess.Popen(["storescu", "-aec", "NOVA", "127.0.0.1",
                                   str(dport)] + paths,
                                  stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        end = time.time() + 20
        while time.time() < end:
            try:
                if index(dstore, "SELECT count(*) FROM instances")[0][0]:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.005)
        srv.send_signal(signal.SIGTERM)
        _, err = sender.communicate(timeout=60)
        check(sender.returncode == 0, "storescu: %s" % err)
        check(srv.wait(timeout=30) == 0, "server exit code")
        n = index(dstore, "SELECT count(*) FROM instances")[0][0]
        check(n == 40, "%d of 40 stored" % n)
        with open(os.path.join(tmp, "drain.log")) as f:
            check("stopping: waiting for 1 association(s)" in f.read(),
                  "SIGTERM did not arrive during the association")
    case("SIGTERM during an association: it finishes, then exit 0",
         t_sigterm_drain)

    def t_send_implicit_only():
        # A peer that accepts implicit VR LE only: nova send re-encodes the
        # explicit-LE files (nested sequences included).
        out = os.path.join(tmp, "storescp-implicit")
        os.makedirs(out)
        sport = free_port()
        p = subprocess.Popen(["storescp", "+xi", "-aet", "STORESCP", "-od",
                              out, str(sport)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        procs.append(p)
        try:
            wait_listening(sport)
            r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % sport,
                                "--aet", "NOVA", "--called-aet", "STORESCP"]
                               + files["a1"], capture_output=True, text=True,
                               timeout=60)
            check(r.returncode == 0, "nova send: %s" % r.stderr)
            got = {str(read(os.path.join(out, f)).SOPInstanceUID):
                   os.path.join(out, f) for f in os.listdir(out)}
            for q in files["a1"]:
                compare(q, got[uid_of[q]], IMPLICIT)
        finally:
            p.terminate()
            p.wait()
    case("nova send to an implicit-only peer: explicit files re-encoded, "
         "element by element equal", t_send_implicit_only)

    def t_restart():
        rc = stop(serve)
        check(rc == 0, "SIGTERM exit code %r" % rc)
        with open(log) as f:
            check("stopped (index: 2 studies, 4 series, 7 instances)" in
                  f.read(), "no stop line with the counts")
        again, port2 = start_serve(storage, log)
        try:
            r = subprocess.run([NOVA, "send", "127.0.0.1:%d" % port2,
                                "--aet", "NOVA", "--called-aet", "NOVA"]
                               + files["b1"], capture_output=True, text=True,
                               timeout=60)
            check(r.returncode == 0, "send after restart: %s" % r.stderr)
        finally:
            rc = stop(again)
        check(rc == 0, "second SIGTERM exit code %r" % rc)
        with open(log) as f:
            text = f.read()
        check(text.count("(index: 2 studies, 4 series, 7 instances)") >= 3,
              "restart did not find the index")
        leftovers = os.listdir(os.path.join(storage, ".tmp"))
        check(leftovers == [], "temporary files left: %r" % leftovers)
    case("SIGTERM exits 0; restart reads the same index", t_restart)


try:
    main()
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()

print("1..%d" % len(results))
for i, (status, name) in enumerate(results, 1):
    print("%s %d - %s" % (status, i, name))
sys.exit(0)
