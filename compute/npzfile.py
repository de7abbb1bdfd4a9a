"""Arrays read from an .npz that nobody here wrote (an upload), so that no file can cost more than a cap.

``np.load(..., allow_pickle=False)`` refuses pickles but not bombs: it inflates every member it is
asked for, in any method Python's zipfile knows (deflate, bzip2, LZMA), and allocates whatever shape
an .npy header declares. Here only the central directory is parsed; then only the members asked
for are read, each size is checked before a byte is inflated or an array allocated, and exactly the
declared number of bytes is inflated (zipfile's CRC-32 is checked at the end of each member).
"""

from __future__ import annotations

import io
import math
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Collection

import numpy as np

from compute.errors import InvalidSpec

MAX_HEADER_BYTES = 1024  # a plain array's .npy header takes 128 bytes; numpy's own cap is 10,000
# what numpy.savez and numpy.savez_compressed write
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
REFUSED_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}  # named in the message
KINDS = "fiubU"  # floats, signed and unsigned integers, booleans, unicode text: never objects or records
HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
ENCRYPTED = 0x1  # general-purpose flag bit 0 (bit 6, strong encryption, comes with it)
# what a damaged or truncated zip raises while it is parsed or inflated (never InvalidSpec, a ValueError)
_BROKEN_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, struct.error)
# what numpy's header parser lets through on a header that is not one (it raises ValueError for most)
_BAD_HEADER = (ValueError, TypeError, OverflowError, SyntaxError, tokenize.TokenError)
_SAVEZ = "an .npz as numpy.savez or numpy.savez_compressed writes it is accepted"


def read_npz(data: bytes, names: Collection[str], max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an .npz file, read so that the file cannot make it inflate more
    than ``max_bytes`` in all (the arrays returned take at most that).

    Reads the members ``<name>.npy`` for ``name`` in ``names``; every other member is ignored,
    never inflated or checked, and a name the file lacks is absent from the result. Accepted: a zip
    whose members read are unencrypted, stored or deflated, and whose declared (uncompressed) sizes
    sum to at most ``max_bytes``; each an .npy of format 1.0 or 2.0 (header at most
    MAX_HEADER_BYTES) holding numbers, booleans or unicode text (KINDS: never objects, so nothing is
    unpickled) whose shape × itemsize is exactly what the member holds after its header. Every
    size is checked before inflating or allocating; the array is a writable copy in the file's
    dtype and memory order, as ``np.load`` gives it.

    Args:
        data: the file's bytes (the caller bounds their length).
        names: the arrays wanted, without ".npy".
        max_bytes: the most the members read may declare in all (each one's .npy header included).

    Raises:
        InvalidSpec: field "file", one sentence saying what is wrong and what is accepted.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (*_BROKEN_ZIP, ValueError):
        raise _refuse(f"the file is not a zip archive; {_SAVEZ}") from None
    with archive:
        members = _members(archive, names, max_bytes)
        return {name: _read(archive, info, max_bytes) for name, info in members.items()}


def _members(archive: zipfile.ZipFile, names: Collection[str], max_bytes: int) -> dict[str, zipfile.ZipInfo]:
    """The central directory's entries for the names wanted, checked before anything is inflated."""
    wanted = {f"{name}.npy": name for name in names}
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        name = wanted.get(info.filename)
        if name is None:
            continue
        if name in found:
            raise _refuse(f"{info.filename} appears twice in the file; {_SAVEZ}")
        if info.flag_bits & ENCRYPTED:
            raise _refuse(f"{info.filename} is encrypted; only unencrypted members are read")
        if info.compress_type not in METHODS:
            method = REFUSED_METHODS.get(info.compress_type, f"method {info.compress_type}")
            accepted = " or ".join(METHODS.values())
            raise _refuse(f"{info.filename} is compressed with {method}; only {accepted} members are read, "
                          "as numpy.savez and numpy.savez_compressed write them")
        if info.file_size > max_bytes:
            raise _refuse(f"{info.filename} would inflate to {info.file_size:,} bytes; "
                          f"at most {max_bytes:,} are read")
        found[name] = info
    total = sum(info.file_size for info in found.values())
    if total > max_bytes:
        raise _refuse(f"the arrays would inflate to {total:,} bytes in all; at most {max_bytes:,} are read")
    return found


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> np.ndarray:
    """One member's array: its header checked, then exactly its declared bytes inflated."""
    where = info.filename
    try:
        with archive.open(info) as member:
            shape, fortran_order, dtype = _header(member, where)
            count = math.prod(shape)
            size = count * dtype.itemsize
            if size > max_bytes:
                raise _refuse(f"{where} declares shape {_shape(shape)} of {dtype.name}, {size:,} bytes; "
                              f"at most {max_bytes:,} are read")
            held = info.file_size - member.tell()
            if size != held:
                raise _refuse(f"{where} declares {size:,} bytes of {dtype.name} but holds {held:,}; "
                              "a member whose header and size agree is accepted")
            raw = member.read(size)  # the member's last bytes: zipfile checks its CRC-32 here
    except InvalidSpec:
        raise
    except (*_BROKEN_ZIP, ValueError):  # ValueError: a local header that seeks before the file, a bad name
        raise _refuse(f"{where} is damaged or cut short (its data, sizes or checksum do not agree); "
                      f"{_SAVEZ}") from None
    if len(raw) != size:
        raise _refuse(f"{where} holds {len(raw):,} bytes of data where its header declares {size:,}; "
                      f"{_SAVEZ}")
    flat = np.frombuffer(raw, dtype=dtype, count=count)
    return flat.reshape(shape, order="F" if fortran_order else "C").copy(order="K")


def _header(member: zipfile.ZipExtFile, where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """The .npy header's shape, memory order and dtype, checked: format 1.0 or 2.0, KINDS only."""
    try:
        version = np.lib.format.read_magic(member)
    except ValueError:
        raise _refuse(f"{where} is not a .npy array; arrays as numpy.save writes them are read") from None
    if version not in HEADERS:
        raise _refuse(f"{where} is a .npy of format {version[0]}.{version[1]}; "
                      f"only formats {' and '.join(f'{a}.{b}' for a, b in HEADERS)} are read")
    try:
        shape, fortran_order, dtype = HEADERS[version](member, max_header_size=MAX_HEADER_BYTES)
    except _BAD_HEADER:
        raise _refuse(f"{where} has a header that is not a plain array's (shape, order and dtype in at most "
                      f"{MAX_HEADER_BYTES:,} bytes); arrays as numpy.save writes them are read") from None
    plain = dtype.kind in KINDS and dtype.fields is None and dtype.subdtype is None and dtype.itemsize > 0
    if not plain:
        raise _refuse(f"{where} holds {dtype.name} values; only numbers, booleans and unicode text are read")
    if any(n < 0 for n in shape):
        raise _refuse(f"{where} declares shape {_shape(shape)}; only sizes of 0 or more are read")
    return shape, fortran_order, dtype


def _shape(shape: tuple[int, ...]) -> str:
    return f"({', '.join(str(n) for n in shape[:8])}{', …' if len(shape) > 8 else ''})"


def _refuse(message: str) -> InvalidSpec:
    return InvalidSpec(message, "file")


__all__ = ["KINDS", "MAX_HEADER_BYTES", "METHODS", "read_npz"]
