"""An .npz that nobody here wrote: bombs (deflate, bzip2, LZMA, a huge declared shape), lies,
thousands of members, objects, garbage and truncation each get one plain sentence and cost no
memory; what numpy.savez and numpy.savez_compressed write reads back exactly as np.load gives it."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from compute import api
from compute.errors import InvalidSpec
from compute.landscape import write_landscape
from compute.npzfile import MAX_HEADER_BYTES, read_npz
from tests.bombs import BOMB_METHODS, MiB, npy, raw_zip, stored, zeros, zeros_crc

CAP = MiB
NAMES = ("mode", "coords", "train_loss", "train_acc")
BOMB_MIB = 512  # 537 MB of zeros: every bomb declares more than 500 MB
CONTROL_MIB = 96  # a deflate bomb np.load inflates in a moment: the memory measurement can fail
ROOT = Path(__file__).resolve().parents[2]
ARRAYS = {
    "float64": np.linspace(-1.0, 1.0, 12).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    "big_endian": np.arange(5, dtype=">f8"),
    "float32": np.float32([1.5, np.inf, -0.0]),
    "uint8": np.arange(7, dtype=np.uint8),
    "bool": np.array([True, False]),
    "text": np.array("θ* + a·d₁ + b·d₂"),
    "texts": np.array(["a", "bcd"]),
    "scalar": np.array(3.25),
    "empty": np.zeros((0, 3)),
}


def _npz(save=np.savez, **arrays) -> bytes:
    buffer = io.BytesIO()
    save(buffer, **arrays)
    return buffer.getvalue()


def _header(shape: tuple[int, ...], descr: str = "<f8", version: tuple[int, int] = (1, 0)) -> bytes:
    """An .npy header alone, declaring what a body may not hold."""
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buffer, header)
    else:
        np.lib.format.write_array_header_2_0(buffer, header)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _refused(data: bytes, names=NAMES, cap: int = CAP) -> str:
    with pytest.raises(InvalidSpec) as caught:
        read_npz(data, names, cap)
    assert caught.value.field == "file"
    _one_sentence(caught.value.message)
    return caught.value.message


def _one_sentence(message: str) -> None:
    """One plain sentence: no second sentence, no line break, nothing of numpy's or zipfile's."""
    assert message and "\n" not in message and not re.search(r"[.!?](\s|$)", message), message
    for word in ("pickle", "memoryerror", "traceback", "error", "errno", "unsafe", "allow_"):
        assert word not in message.lower(), message


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_savez_files_read_back_exactly_as_np_load_gives_them(save):
    data = _npz(save, **ARRAYS, unasked=np.array([object()], dtype=object))
    got = read_npz(data, [*ARRAYS, "missing"], CAP)
    assert set(got) == set(ARRAYS)  # the member not asked for is never read; the missing one is absent
    with np.load(io.BytesIO(data), allow_pickle=False) as reference:
        for name in ARRAYS:
            expected = reference[name]
            assert got[name].dtype == expected.dtype and got[name].shape == expected.shape, name
            np.testing.assert_array_equal(got[name], expected)
            assert got[name].flags.f_contiguous == expected.flags.f_contiguous and got[name].flags.writeable


def test_a_format_2_array_reads_back():
    data = _member("coords", _header((2, 3), version=(2, 0)) + np.arange(6.0).tobytes())
    np.testing.assert_array_equal(read_npz(data, NAMES, CAP)["coords"], np.arange(6.0).reshape(2, 3))


def test_the_largest_legal_landscape_is_read_exactly():
    """A 1001 × 1001 plane with its accuracy and a path of MAX_PATH points, as write_landscape
    writes it (over the file's own cap uncompressed: read with the page's caps) and compressed."""
    r, rng = api.MAX_RESOLUTION, np.random.default_rng(0)
    written = {"mode": "pca", "coords": np.linspace(-1.0, 1.0, r), "train_loss": np.zeros((r, r)),
               "train_acc": np.ones((r, r)), "path": np.zeros((api.MAX_PATH, 2)),
               "explained": np.array([0.75, 0.25]), "description": "the largest legal landscape"}
    written["train_loss"][::97, ::89] = rng.random((11, 12))  # values, not only zeros, read back
    buffer = io.BytesIO()
    write_landscape(buffer, written, {"seed": 0})
    got = read_npz(buffer.getvalue(), api.FILE_NAMES, api.MAX_ARRAY_BYTES)
    assert got.keys() == written.keys()
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as saved:
        opened = api.load_landscape(_npz(np.savez_compressed, **saved))
    assert opened.mode == "pca" and opened.description == written["description"]
    for name in ("coords", "train_loss", "train_acc", "path", "explained"):
        np.testing.assert_array_equal(got[name], written[name])
        np.testing.assert_array_equal(getattr(opened, name), written[name])


def _write_bombs(folder: Path) -> dict[str, Path]:
    """Landscape files whose train_loss is a bomb (512 MiB of zeros in each method, a shape of
    8 TB), one of 5,000 object arrays and a deflate bomb beside a legal landscape, and a smaller
    deflate bomb for np.load."""
    legal = [stored(f"{name}.npy", npy(value)) for name, value in
             {"mode": np.array("line"), "coords": np.array([0.0, 1.0])}.items()]
    crc = zeros_crc(BOMB_MIB)
    files = {"control": raw_zip([*legal, ("train_loss.npy", zipfile.ZIP_DEFLATED,
                                           zeros(zipfile.ZIP_DEFLATED, CONTROL_MIB), CONTROL_MIB * MiB,
                                           zeros_crc(CONTROL_MIB))])}
    for kind, method in BOMB_METHODS.items():
        bomb = ("train_loss.npy", method, zeros(method, BOMB_MIB), BOMB_MIB * MiB, crc)
        files[kind] = raw_zip([*legal, bomb])
    files["shape"] = raw_zip([*legal, stored("train_loss.npy", _header((10**6, 10**6)) + bytes(64))])
    objects = npy(np.array([object()], dtype=object))
    files["many"] = raw_zip([*[stored(f"x{k}.npy", objects) for k in range(5000)], *legal,
                              stored("train_loss.npy", npy(np.zeros(2))),
                              ("d1.npy", zipfile.ZIP_DEFLATED, zeros(zipfile.ZIP_DEFLATED, BOMB_MIB),
                               BOMB_MIB * MiB, crc)])
    paths = {}
    for kind, data in files.items():
        paths[kind] = folder / f"{kind}.npz"
        paths[kind].write_bytes(data)
    return paths


def test_the_bomb_makers_make_zips_that_zipfile_reads():
    crc = zeros_crc(3)
    for method in BOMB_METHODS.values():
        data = raw_zip([("x.npy", method, zeros(method, 3), 3 * MiB, crc)])
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.read("x.npy") == bytes(3 * MiB)  # inflated, CRC-checked


# In a fresh process, given the files' paths on stdin once it has imported compute: the process's
# peak resident memory (VmHWM), reset to what is resident before each part, while load_landscape
# reads the bombs, then while np.load reads the control (an older peak, the imports' or the
# parent's, which ru_maxrss carries over an exec, would hide a growth under it).
MEASURE = """
import io, json, sys
import numpy as np
from compute.api import load_landscape
from compute.errors import InvalidSpec

def memory(key):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(key + ":"))

def reset():
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # Linux 4.0+: the peak back to the resident size
    return memory("VmHWM")

control, *bombs = (open(path, "rb").read() for path in sys.stdin.read().splitlines())
start, said = reset(), []
for data in bombs:
    try:
        said.append(load_landscape(data).mode)
    except InvalidSpec as err:
        said.append(err.message)
guarded = memory("VmHWM") - start
start = reset()
with np.load(io.BytesIO(control), allow_pickle=False) as naive:  # what load_landscape did
    naive["train_loss"]
print(json.dumps({"said": said, "guarded": guarded, "naive": memory("VmHWM") - start}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures memory as Linux counts it")
def test_bombs_are_refused_before_they_inflate(tmp_path):
    """All of them together grow a process's peak memory by less than 50 MiB, where np.load on a
    bomb a fifth their size takes more than that size."""
    with subprocess.Popen([sys.executable, "-c", MEASURE], cwd=ROOT, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as measuring:
        bombs = _write_bombs(tmp_path)  # while the process imports torch
        kinds = ("control", "deflate", "bzip2", "lzma", "shape", "many")
        out, err = measuring.communicate("\n".join(str(bombs[kind]) for kind in kinds), timeout=120)
    assert measuring.returncode == 0, err
    for kind in BOMB_METHODS:
        with zipfile.ZipFile(bombs[kind]) as archive:
            assert archive.getinfo("train_loss.npy").file_size > 500_000_000
    measured = json.loads(out.splitlines()[-1])
    said = measured["said"]
    assert said[-1] == "line"  # 5,000 object arrays and a bomb not asked for: never read
    for message, fragment in zip(said, ("would inflate to 536,870,912 bytes", "compressed with bzip2",
                                        "compressed with LZMA", "declares shape (1000000, 1000000)")):
        assert message.startswith("not a landscape file: train_loss.npy") and fragment in message, message
        _one_sentence(message)
    assert measured["guarded"] < 50 * MiB, measured
    assert measured["naive"] > CONTROL_MIB * MiB, measured  # the measurement can fail


def _member(name: str, data: bytes) -> bytes:
    return _zip({f"{name}.npy": data})


def _encrypted() -> bytes:
    return raw_zip([stored("coords.npy", npy(np.zeros(2)))], flags=0x1)


def _twice() -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate name
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("coords.npy", npy(np.zeros(2)))
            archive.writestr("coords.npy", npy(np.ones(2)))
    return buffer.getvalue()


def _damaged() -> bytes:
    data = bytearray(_npz(coords=np.arange(64.0)))
    data[200] ^= 0xFF  # a byte of the array's data: its CRC-32 no longer agrees
    return bytes(data)


def _version_3() -> bytes:
    data = bytearray(npy(np.zeros(2)))
    data[6] = 3
    return _member("coords", bytes(data))


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)), "not a zip archive"),
    (lambda: _npz(coords=np.arange(64.0))[:400], "not a zip archive"),  # truncated: no central directory
    (lambda: b"PK\x03\x04 garbage", "not a zip archive"),
    (lambda: _npz(coords=np.array([object(), 1], dtype=object)), "coords.npy holds object values"),
    (lambda: _member("coords", npy(np.zeros(2, dtype=[("a", "<f8")]))), "coords.npy holds void64 values"),
    (lambda: _member("coords", npy(np.zeros(2, dtype="M8[s]"))), "holds datetime64[s] values"),
    (lambda: _member("coords", npy(np.zeros(2, dtype=complex))), "holds complex128 values"),
    (lambda: _member("coords", _header((10**6, 10**6)) + bytes(64)), "declares shape (1000000, 1000000)"),
    (lambda: _member("coords", _header((1000,)) + bytes(8)), "declares 8,000 bytes of float64 but holds 8"),
    (lambda: _member("coords", _header((1,)) + bytes(16)), "declares 8 bytes of float64 but holds 16"),
    (lambda: _member("coords", _header((-1,)) + bytes(8)), "declares shape (-1)"),
    (lambda: _member("coords", _header((2,), version=(2, 0)) + bytes(8)), "declares 16 bytes"),
    (lambda: _member("coords", b"\x00" * 100), "coords.npy is not a .npy array"),
    (_version_3, "is a .npy of format 3.0; only formats 1.0 and 2.0 are read"),
    (lambda: _member("coords", _header((2,), descr="<f8" + " " * MAX_HEADER_BYTES) + bytes(16)),
     f"in at most {MAX_HEADER_BYTES:,} bytes"),
    (lambda: _zip({"coords.npy": npy(np.zeros(2))}, zipfile.ZIP_BZIP2), "with bzip2; only stored or"),
    (lambda: _zip({"coords.npy": npy(np.zeros(2))}, zipfile.ZIP_LZMA), "with LZMA; only stored or deflated"),
    (lambda: _npz(np.savez_compressed, coords=np.zeros(CAP // 8)), f"would inflate to {CAP + 128:,} bytes"),
    (lambda: _npz(np.savez_compressed, coords=np.zeros(CAP // 16), train_loss=np.zeros(CAP // 16)),
     f"would inflate to {CAP + 256:,} bytes in all"),
    (_encrypted, "coords.npy is encrypted"),
    (_twice, "coords.npy appears twice"),
    (_damaged, "coords.npy is damaged or cut short"),
])
def test_each_refusal_is_one_sentence(make, fragment):
    message = _refused(make())
    assert fragment in message, message


def test_thousands_of_members_cost_only_their_directory():
    """5,000 object arrays beside the arrays asked for: only those are read (an object array
    read would be refused)."""
    objects = npy(np.array([object()], dtype=object))
    members = {f"x{k}.npy": objects for k in range(5000)}
    data = _zip({**members, "coords.npy": npy(np.arange(3.0)), "mode.npy": npy(np.array("line"))})
    got = read_npz(data, NAMES, CAP)
    assert got.keys() == {"coords", "mode"} and got["coords"].tolist() == [0.0, 1.0, 2.0]
    assert "x0.npy holds object values" in _refused(data, ["x0"])


def test_mutated_files_are_read_or_refused_in_one_sentence():
    """Bytes flipped or cut anywhere in a file (the zip's structure, a member's .npy header or
    data, in a member rewritten with a valid CRC): an array or one sentence, never numpy's or
    zipfile's own exception."""
    rng = np.random.default_rng(0)
    npys = [npy(array) for array in ARRAYS.values()]
    files = [_npz(np.savez, **ARRAYS), _npz(np.savez_compressed, **ARRAYS)]
    outcomes = {"read": 0, "refused": 0}
    for k in range(600):
        # odd k: the zip itself; even k: a member's .npy, zipped below with a CRC that agrees
        data = bytearray(files[k % 4 // 2] if k % 2 else npys[k % len(npys)])
        if k % 3 == 0:
            data = data[:rng.integers(1, len(data))]
        reach = len(data) if k % 2 else min(len(data), 160)  # in a .npy, mostly its header
        for _ in range(rng.integers(1, 4)):
            data[rng.integers(reach)] = rng.integers(256)
        if not k % 2:
            method = zipfile.ZIP_DEFLATED if k % 4 else zipfile.ZIP_STORED
            data = bytearray(_zip({"coords.npy": bytes(data)}, method))
        try:
            read_npz(bytes(data), [*ARRAYS, "coords"], CAP)
            outcomes["read"] += 1
        except InvalidSpec as err:
            _one_sentence(err.message)
            outcomes["refused"] += 1
    assert min(outcomes.values()) > 10, outcomes
