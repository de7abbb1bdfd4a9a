"""Hostile landscape files, made in well under a second: zip bombs (deflate, bzip2, LZMA) whose
members declare hundreds of MB of zeros, and the landscape page's upload request that carries a
file. Shared by the tests and bench load's abuse phase (no pytest here: the benches import it)."""

from __future__ import annotations

import base64
import bz2
import io
import lzma
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from dashboard.ids import LandscapeID

MiB = 1 << 20
BOMB_METHODS = {"deflate": zipfile.ZIP_DEFLATED, "bzip2": zipfile.ZIP_BZIP2, "lzma": zipfile.ZIP_LZMA}


def npy(array: np.ndarray) -> bytes:
    """An .npy file of ``array``, as anyone may write it (an object array is pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def raw_zip(members: list[tuple[str, int, bytes, int, int]], flags: int = 0) -> bytes:
    """A zip built by hand around members compressed elsewhere, each (name, method, compressed,
    size, CRC-32): zipfile would compress a bomb's 512 MiB itself, in 1 s (deflate) to 8 s (LZMA)."""
    body, directory = bytearray(), bytearray()
    for name, method, packed, size, crc in members:
        fields = struct.pack("<5H3I", 20, flags, method, 0, 0x21, crc, len(packed), size)  # 1 Jan 1980
        directory += (b"PK\x01\x02" + struct.pack("<H", 20) + fields
                      + struct.pack("<5H2I", len(name), 0, 0, 0, 0, 0, len(body)) + name.encode())
        body += b"PK\x03\x04" + fields + struct.pack("<2H", len(name), 0) + name.encode() + packed
    count = len(members)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + end)


def stored(name: str, data: bytes) -> tuple[str, int, bytes, int, int]:
    """A stored (uncompressed) member for ``raw_zip``."""
    return name, zipfile.ZIP_STORED, data, len(data), zlib.crc32(data)


BZIP2_BLOCK, BZIP2_END = 0x314159265359, 0x177245385090


def bzip2_repeated(stream: bytes, blocks: int) -> bytes:
    """A bzip2 stream of ``stream``'s one block ``blocks`` times, bit for bit. A stream is "BZh9",
    its blocks (each the 48-bit BZIP2_BLOCK, the block's CRC, its data: not byte-aligned), then
    BZIP2_END, the stream's CRC (each block's folded in: rotate left by one, xor) and 0-7 bits of
    padding."""
    bits, width = int.from_bytes(stream[4:], "big"), (len(stream) - 4) * 8
    pad = next(p for p in range(8) if (bits >> (p + 32)) & ((1 << 48) - 1) == BZIP2_END)
    width -= 80 + pad
    block = bits >> (80 + pad)
    assert block >> (width - 48) == BZIP2_BLOCK, "one block"
    crc = (block >> (width - 80)) & 0xFFFFFFFF
    repeated = combined = 0
    for _ in range(blocks):
        repeated = (repeated << width) | block
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc
    repeated = (((repeated << 48) | BZIP2_END) << 32) | combined
    n = blocks * width + 80
    return stream[:4] + (repeated << (-n % 8)).to_bytes((n + 7) // 8, "big")


def zeros(method: int, mib: int) -> bytes:
    """``mib`` MiB of zeros compressed as zipfile's ``method`` stores them, in well under a second
    where a shortcut exists: deflate repeats one fully flushed MiB (byte-aligned, no history),
    bzip2 one block of a MiB; LZMA has none (raw LZMA1 at preset 0, as FORMAT_ALONE lays it out
    after its 13-byte header, behind zipfile's 4-byte header and the 5 bytes of properties)."""
    zero = bytes(MiB)
    if method == zipfile.ZIP_DEFLATED:
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = deflate.compress(zero) + deflate.flush(zlib.Z_FULL_FLUSH)
        return chunk * mib + deflate.flush()
    if method == zipfile.ZIP_BZIP2:
        return bzip2_repeated(bz2.compress(zero, 9), mib)
    alone = lzma.LZMACompressor(lzma.FORMAT_ALONE, preset=0)
    stream = b"".join(alone.compress(zero) for _ in range(mib)) + alone.flush()
    return struct.pack("<2BH", 9, 4, 5) + stream[:5] + stream[13:]


def zeros_crc(mib: int) -> int:
    """The CRC-32 of ``mib`` MiB of zeros."""
    crc, zero = 0, bytes(MiB)
    for _ in range(mib):
        crc = zlib.crc32(zero, crc)
    return crc


def bombs(mib: int) -> dict[str, bytes]:
    """Landscape files whose train_loss member is ``mib`` MiB of zeros (a legal mode and coords
    beside it), one per method of BOMB_METHODS; each a real zip that zipfile would inflate in full."""
    crc = zeros_crc(mib)
    legal = [stored(f"{name}.npy", data) for name, data in (("mode", npy(np.array("plane"))),
                                                            ("coords", npy(np.linspace(-1, 1, 5))))]
    return {kind: raw_zip([*legal, ("train_loss.npy", method, zeros(method, mib), mib * MiB, crc)])
            for kind, method in BOMB_METHODS.items()}


def upload_body(dependencies: list[dict], filename: str, content: bytes) -> dict[str, Any]:
    """The landscape page's upload callback's POST body, as the renderer sends it for a file opened
    (``dependencies``: the JSON of /_dash-dependencies)."""
    dep = next(d for d in dependencies if any(i["id"] == LandscapeID.UPLOAD for i in d["inputs"]))
    values = {f"{LandscapeID.UPLOAD}.contents": "data:application/octet-stream;base64,"
              + base64.b64encode(content).decode(), f"{LandscapeID.UPLOAD}.filename": filename}

    def entries(kind: str) -> list[dict[str, Any]]:
        return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in dep[kind]]

    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
               for part in dep["output"].strip(".").split("...")]
    return {"output": dep["output"], "outputs": outputs, "inputs": entries("inputs"), "state": entries("state"),
            "changedPropIds": [f"{LandscapeID.UPLOAD}.contents"]}
