"""Writes the hostile-input corpus into a folder: crafted and damaged weights files, safetensors
files, model descriptions and images, each with the outcome kdtorch must give (a KdtorchError code,
or "ok"). Nothing binary is committed: every file comes from this script, deterministically.

usage: make_corpus.py OUT_DIR STUDENT_SAFETENSORS  → OUT_DIR/manifest.json
"""
import io
import json
import os
import random
import struct
import sys
import zipfile

import torch
from PIL import Image

out, student_file = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
cases = []
BAD_W, MISMATCH, BAD_IMG, TOO_LARGE = "E_BAD_WEIGHTS_FILE", "E_WEIGHTS_MISMATCH", "E_BAD_IMAGE", "E_IMAGE_TOO_LARGE"


def case(name, data, api, expect, pattern=None):
    path = os.path.join(out, name)
    if data is not None:
        with open(path, "wb") as f:
            f.write(data)
    cases.append({"file": path, "api": api, "expect": expect if isinstance(expect, list) else [expect],
                  "pattern": pattern})


# ---- pickles by hand: the opcodes a state_dict uses ------------------------------------------
def uni(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def ints(values):
    return b"(" + b"".join(b"J" + struct.pack("<i", v) if -2**31 <= v < 2**31 else
                           b"\x8a\x08" + struct.pack("<q", v) for v in values) + b"t"


def tensor(key, numel, offset, size, stride, storage="FloatStorage"):
    pid = b"(" + uni("storage") + glob("torch", storage) + uni(key) + uni("cpu") + b"\x8a\x08" + \
        struct.pack("<q", numel) + b"tQ"
    hooks = glob("collections", "OrderedDict") + b")R"
    return glob("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"\x8a\x08" + struct.pack("<q", offset) + \
        ints(size) + ints(stride) + b"\x89" + hooks + b"tR"


def state_dict(*entries):
    return b"\x80\x02}" + b"".join(uni(name) + t + b"s" for name, t in entries) + b"."


def pth(pickle, records=None, version=b"3\n"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle)
        for key, data in (records or {}).items():
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", version)
    return buffer.getvalue()


one_float = {"0": struct.pack("<f", 1.0)}
four_floats = {"0": struct.pack("<4f", 1, 2, 3, 4)}
w = "weights"
case("pth-valid-foreign.pth", pth(state_dict(("a", tensor("0", 4, 0, [4], [1]))), four_floats), w, MISMATCH, "unexpected")
case("pth-size-longer-than-stride.pth", pth(state_dict(("a", tensor("0", 1, 0, [2], []))), one_float), w, BAD_W, "dimensions")
case("pth-stride-shorter.pth", pth(state_dict(("a", tensor("0", 4, 0, [2, 2], [1]))), four_floats), w, BAD_W, "dimensions")
case("pth-zero-stride-2p29.pth", pth(state_dict(("fc.weight", tensor("0", 1, 0, [16384, 16384, 2], [0, 0, 0]))), one_float),
     w, MISMATCH, "fc.weight")
case("pth-view-past-storage.pth", pth(state_dict(("a", tensor("0", 4, 2, [4], [1]))), four_floats), w, BAD_W, "outside")
case("pth-empty-storage-view.pth", pth(state_dict(("a", tensor("0", 0, 0, [1], [1]))), {"0": b""}), w, BAD_W, "outside")
case("pth-negative-stride.pth", pth(state_dict(("a", tensor("0", 4, 3, [4], [-1]))), four_floats), w, BAD_W, "negative")
case("pth-negative-size.pth", pth(state_dict(("a", tensor("0", 4, 0, [-4], [1]))), four_floats), w, BAD_W, "negative")
case("pth-negative-offset.pth", pth(state_dict(("a", tensor("0", 4, -1, [4], [1]))), four_floats), w, BAD_W, "outside")
case("pth-stride-overflow.pth", pth(state_dict(("a", tensor("0", 4, 0, [4, 4], [2**62, 1]))), four_floats), w, BAD_W, "outside")
case("pth-numel-overflow.pth", pth(state_dict(("a", tensor("0", 4, 0, [2**32, 2**32, 4], [0, 0, 0]))), four_floats), w, BAD_W, "overflow")
case("pth-many-dims.pth", pth(state_dict(("a", tensor("0", 1, 0, [1] * 100, [0] * 100))), one_float), w, BAD_W, "64 dimensions")
case("pth-storage-numel-lies.pth", pth(state_dict(("a", tensor("0", 2**40, 0, [4], [1]))), four_floats), w, BAD_W, "elements")
case("pth-storage-negative-numel.pth", pth(state_dict(("a", tensor("0", -1, 0, [4], [1]))), four_floats), w, BAD_W, "elements")
case("pth-storage-missing.pth", pth(state_dict(("a", tensor("0", 4, 0, [4], [1])))), w, BAD_W, "missing")
case("pth-unknown-storage.pth", pth(state_dict(("a", tensor("0", 4, 0, [4], [1], "EvilStorage"))), four_floats), w, BAD_W)
case("pth-deep-tuples.pth", pth(b"\x80\x02" + b")" + b"\x85" * 110_000 + b"."), w, BAD_W, "no dict")
# A chain of 100,000 lists, each appended into the one before it through the memo.
chain = b"\x80\x02" + b"".join(b"]r" + struct.pack("<I", i) for i in range(100_000))
chain += b"".join(b"j" + struct.pack("<I", i) + b"j" + struct.pack("<I", i + 1) + b"a0" for i in range(99_999))
case("pth-deep-list-chain.pth", pth(chain + b"."), w, BAD_W)
case("pth-self-cycle.pth", pth(b"\x80\x02]\x94h\x00a."), w, BAD_W, "no dict")
case("pth-binunicode8-huge.pth", pth(b"\x80\x02\x8d" + b"\xff" * 8 + b"."), w, BAD_W, "ends early")
case("pth-binunicode-huge.pth", pth(b"\x80\x02X" + b"\xff" * 4 + b"."), w, BAD_W, "ends early")
case("pth-long1-huge.pth", pth(b"\x80\x02\x8a\xff" + b"\x01" * 255 + b"."), w, BAD_W, "too large")
case("pth-empty-pickle.pth", pth(b""), w, BAD_W, "ends early")
case("pth-stack-underflow.pth", pth(b"\x80\x02s."), w, BAD_W, "underflow")
case("pth-memo-unknown.pth", pth(b"\x80\x02h\x07."), w, BAD_W, "memo")
case("pth-global-os-system.pth", pth(b"\x80\x02" + glob("os", "system") + b"(" + uni("echo hacked") + b"tR."), w, BAD_W, "never code")
case("pth-global-eval.pth", pth(b"\x80\x02" + glob("builtins", "eval") + b"(" + uni("1+1") + b"tR."), w, BAD_W, "never code")
case("pth-stack-global.pth", pth(b"\x80\x02" + uni("posix") + uni("system") + b"\x93."), w, BAD_W, "never code")
case("pth-no-data-pkl.pth", pth(b"", {}).replace(b"data.pkl", b"other.pk"), w, BAD_W)
case("pth-unknown-opcode.pth", pth(b"\x80\x02\xff."), w, BAD_W, "opcode")
buf = io.BytesIO()
torch.save({"a": torch.arange(4.0)}, buf, _use_new_zipfile_serialization=False)
case("pth-legacy-format.pth", buf.getvalue(), w, BAD_W, "legacy")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:  # a zip bomb: 1 GB of zeros in ~1 MB
    z.writestr("archive/data.pkl", state_dict(("a", tensor("0", 2**28, 0, [2**28], [1]))))
    z.writestr("archive/data/0", b"\0" * (2**28 * 4))
    z.writestr("archive/version", b"3\n")
case("pth-zip-bomb.pth", buf.getvalue(), w, BAD_W, "more bytes than the file")


def claim(data, name, size):
    """The zip with `name`'s central-directory entry claiming `size` uncompressed bytes."""
    entry = data.index(b"PK\x01\x02")
    while data[entry + 46:entry + 46 + len(name)] != name.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    return data[:entry + 24] + struct.pack("<I", size) + data[entry + 28:]


buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:  # torch reads the version record while opening
    z.writestr("archive/data.pkl", state_dict())
    z.writestr("archive/version", b"3\n", compress_type=zipfile.ZIP_DEFLATED)
case("pth-version-claims-4gb.pth", claim(buf.getvalue(), "archive/version", 0xFF000002), w, BAD_W, "more bytes than the file")
case("pth-version-saturated-size.pth", claim(buf.getvalue(), "archive/version", 0xFFFFFFFF), w, BAD_W,
     "more bytes than the file")
case("pth-directory.pth", None, w, BAD_W, "directory")
os.makedirs(os.path.join(out, "pth-directory.pth"), exist_ok=True)
fifo = os.path.join(out, "pth-fifo.pth")
if not os.path.exists(fifo):
    os.mkfifo(fifo)
case("pth-fifo.pth", None, w, BAD_W, "not a regular file")
cases.append({"file": "/dev/zero", "api": w, "expect": [BAD_W], "pattern": "not a regular file"})
case("empty.pth", b"", w, BAD_W, "empty")

real_pth = io.BytesIO()
torch.save({k: v for k, v in __import__("safetensors.torch", fromlist=["load_file"]).load_file(student_file).items()},
           real_pth)
real_pth = real_pth.getvalue()
case("pth-real.pth", real_pth, w, "ok")
rng = random.Random(0)
for i, cut in enumerate(sorted(rng.sample(range(1, len(real_pth)), 30))):
    case(f"pth-truncated-{i:02}.pth", real_pth[:cut], w, BAD_W)
for i in range(30):
    data = bytearray(real_pth)
    for _ in range(4):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    case(f"pth-bitflip-{i:02}.pth", bytes(data), w, ["ok", BAD_W, MISMATCH])


# ---- safetensors --------------------------------------------------------------------------------
def st(header, data=b"", raw=False, size=None):
    text = header if raw else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if size is None else size) + text + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


eight = b"\0" * 8
case("st-valid-foreign.safetensors", st({"a": t("F32", [2], 0, 8)}, eight), w, MISMATCH, "unexpected")
case("st-empty-tensor.safetensors", st({"e": t("F32", [0], 0, 0), "a": t("F32", [2], 0, 8)}, eight), w, MISMATCH,
     "unexpected")  # an empty tensor has no buffer to copy into (UBSan's find in the fuzz run)
case("st-overlap.safetensors", st({"a": t("F32", [2], 0, 8), "b": t("F32", [1], 4, 8)}, eight), w, BAD_W, "overlaps")
case("st-gap.safetensors", st({"a": t("F32", [1], 4, 8)}, eight), w, BAD_W, "gap")
case("st-trailing.safetensors", st({"a": t("F32", [1], 0, 4)}, eight), w, BAD_W, "after the last")
case("st-duplicate.safetensors", st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                    b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight, raw=True),
     w, BAD_W, "twice")
case("st-not-utf8.safetensors", st(b'{"\xff\xfe":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', eight[:4],
                                   raw=True), w, BAD_W, "UTF-8")
case("st-overlong-utf8.safetensors", st(b'{"\xc0\xaf":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                        eight[:4], raw=True), w, BAD_W, "UTF-8")
case("st-offset-int64.safetensors", st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,99999999999999999999999]}}',
                                       eight, raw=True), w, BAD_W, "int64")
case("st-shape-int64.safetensors", st(b'{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}',
                                      eight, raw=True), w, BAD_W, "int64")
case("st-shape-overflow.safetensors", st({"a": t("F32", [2**62, 2**62], 0, 8)}, eight), w, BAD_W, "byte length")
case("st-shape-wrong.safetensors", st({"a": t("F32", [3], 0, 8)}, eight), w, BAD_W, "byte length")
case("st-reversed.safetensors", st({"a": t("F32", [0], 8, 0)}, eight), w, BAD_W, "outside")
case("st-past-end.safetensors", st({"a": t("F32", [4], 0, 16)}, eight), w, BAD_W, "outside")
case("st-negative.safetensors", st(b'{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}', eight, raw=True), w,
     BAD_W)
case("st-dtype.safetensors", st({"a": t("F128", [1], 0, 8)}, eight), w, BAD_W, "dtype")
case("st-header-huge.safetensors", st({"a": t("F32", [2], 0, 8)}, eight, size=2**64 - 1), w, BAD_W, "header size")
case("st-header-zero.safetensors", st({}, eight, size=0), w, BAD_W)
case("st-not-json.safetensors", st(b"hello world!", raw=True), w, BAD_W, "malformed")

def named(raw_name):
    return st(b'{"' + raw_name + b'":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', eight[:4], raw=True)


# JSON strings as serde_json (the safetensors library) reads them.
case("st-unicode-escape.safetensors", named(b"\\u0061b"), w, MISMATCH, "unexpected in the file \\(1\\):\n    ab")
case("st-surrogate-pair.safetensors", named(b"\\ud83d\\ude00"), w, MISMATCH, "\n    \U0001F600")
case("st-lone-surrogate.safetensors", named(b"\\ude00"), w, BAD_W, "surrogate")
case("st-half-pair.safetensors", named(b"\\ud83dx"), w, BAD_W, "surrogate")
case("st-short-escape.safetensors", named(b"\\u12"), w, BAD_W, "hex digits")
case("st-bad-escape.safetensors", named(b"\\q"), w, BAD_W, "not JSON")
case("st-raw-control.safetensors", named(b"a\x01b"), w, BAD_W, "control character")
case("st-metadata-number.safetensors", st(b'{"__metadata__":{"a":1}}', raw=True), w, BAD_W)
case("st-unknown-field.safetensors", st({"a": {**t("F32", [1], 0, 4), "x": 1}}, eight[:4]), w, BAD_W, "unexpected field")
case("st-unterminated.safetensors", st(b'{"a', raw=True), w, BAD_W)
case("st-short.safetensors", b"\x01\x02\x03", w, BAD_W, "shorter")
real_st = open(student_file, "rb").read()
case("st-real.safetensors", real_st, w, "ok")
for i, cut in enumerate(sorted(rng.sample(range(1, len(real_st)), 30))):
    case(f"st-truncated-{i:02}.safetensors", real_st[:cut], w, BAD_W)
header_end = 8 + struct.unpack("<Q", real_st[:8])[0]
for i in range(30):
    data = bytearray(real_st)
    for _ in range(2):  # flips in the header, where they change the structure
        data[rng.randrange(8, header_end)] ^= 1 << rng.randrange(8)
    case(f"st-bitflip-{i:02}.safetensors", bytes(data), w, ["ok", BAD_W, MISMATCH])


# ---- model descriptions (loadModel): a student file with a hostile "kdtorch" metadata entry -----------
def described(description):
    tensors = __import__("safetensors.torch", fromlist=["load_file"]).load_file(student_file)
    from safetensors.torch import save
    return save(tensors, {"kdtorch": description if isinstance(description, str) else json.dumps(description)})


good = {"architecture": "studentNet", "classes": ["NORMAL", "PNEUMONIA"], "imageSize": 32, "channels": 3,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "width": 4}
m = "model"
case("model-good.safetensors", described(good), m, "ok")
for name, patch in [("image-size-40000", {"imageSize": 40000}), ("std-zero", {"std": [0, 0, 0]}),
                    ("classes-string", {"classes": "NORMAL"}), ("architecture-unknown", {"architecture": "vit"}),
                    ("channels-7", {"channels": 7}), ("mean-short", {"mean": [0.5]}), ("width-huge", {"width": 10**6}),
                    ("classes-many", {"classes": [str(i) for i in range(200_000)]}), ("std-nan", {"std": "NaN"}),
                    ("image-size-odd", {"imageSize": 33})]:
    case(f"model-{name}.safetensors", described({**good, **patch}), m, BAD_W, "description")
case("model-not-json.safetensors", described("{not json"), m, BAD_W, "not JSON")
case("model-wrong-size.safetensors", described({**good, "imageSize": 64}), m, MISMATCH, "fc.weight")
# Inside the schema's bounds, yet networks of 4.3e13 and 2.7e8 parameters: refused before anything is built.
case("model-largest-in-bounds.safetensors", described({**good, "imageSize": 4096, "width": 1024,
                                                        "classes": [str(i) for i in range(10_000)]}),
     m, MISMATCH, "does not belong")
case("model-large-student.safetensors", described({**good, "imageSize": 4096, "width": 64}), m, MISMATCH,
     "does not belong")


# ---- images -----------------------------------------------------------------------------------
def jpeg(mode, size=(16, 16)):
    b = io.BytesIO()
    Image.new(mode, size, 128).save(b, "JPEG")
    return b.getvalue()


def with_size(data, width, height):
    """The JPEG with its SOF0 frame header's dimensions replaced."""
    i = data.index(b"\xff\xc0")
    return data[:i + 5] + struct.pack(">HH", height, width) + data[i + 9:]


im = "image"
for mode in ["L", "RGB"]:
    small = jpeg(mode)
    case(f"jpeg-{mode}-ok.jpg", small, im, "ok")
    case(f"jpeg-{mode}-60000x60000.jpg", with_size(small, 60000, 60000), im, TOO_LARGE, "maxPixels")
    # Past libjpeg's 65500-pixel side: declined by both decoders as a bad header, before any allocation.
    case(f"jpeg-{mode}-65535x2000.jpg", with_size(small, 65535, 2000), im, [TOO_LARGE, BAD_IMG])
    case(f"jpeg-{mode}-0x0.jpg", with_size(small, 0, 0), im, BAD_IMG)
b = io.BytesIO()
Image.new("L", (16, 16), 128).save(b, "PNG")
png = b.getvalue()
case("png-ok.png", png, im, "ok")
case("png-60000x60000.png", png[:16] + struct.pack(">II", 60000, 60000) + png[24:], im, [TOO_LARGE, BAD_IMG])
case("image-empty.jpg", b"", im, BAD_IMG)
case("image-text.jpg", b"not an image at all\n", im, BAD_IMG)
case("image-jpeg-magic-only.jpg", b"\xff\xd8\xff", im, BAD_IMG)
real_jpeg = jpeg("L", (64, 48))
for i, cut in enumerate(sorted(rng.sample(range(1, len(real_jpeg)), 20))):
    case(f"jpeg-truncated-{i:02}.jpg", real_jpeg[:cut], im, ["ok", BAD_IMG])
for i in range(20):
    data = bytearray(real_jpeg)
    for _ in range(3):
        data[rng.randrange(2, len(data))] ^= 1 << rng.randrange(8)
    case(f"jpeg-bitflip-{i:02}.jpg", bytes(data), im, ["ok", BAD_IMG, TOO_LARGE])

with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(json.dumps({"cases": len(cases)}))
