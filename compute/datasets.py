"""Image data sets from their standard files, checked as they are read; nothing here is unpickled.

- MNIST and Fashion-MNIST: the four IDX files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
  ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), gzipped or not, in ``DATA_DIR/mnist`` and
  ``DATA_DIR/fashion-mnist``.
- CIFAR-10: the binary version (``data_batch_1.bin`` … ``data_batch_5.bin``, ``test_batch.bin``) in
  ``DATA_DIR/cifar10`` (or its ``cifar-10-batches-bin`` folder, as the archive unpacks). The pickled
  Python version is never read.
- MNIST-1D: made offline by the ``mnist1d`` package's generator with its default arguments (seed 42).
- The 8 × 8 digits inside scikit-learn.

A missing or damaged file raises :class:`DataFileError` naming the file relative to the data folder
(never the server's absolute path: participants see it). ``fetch`` downloads the standard files where a
machine has internet and checks their MD5 sums (tests never download).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import threading
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compute.errors import InvalidSpec

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR_RECORD = 1 + 3 * 32 * 32
CLASSES = 10


class DataFileError(InvalidSpec):
    """A data file that is missing or damaged.

    ``str(err)`` is one sentence a participant may see: it names the file relative to the data
    folder (``mnist/train-images-idx3-ubyte(.gz) is missing from the data folder.``), never the
    server's absolute path, a shell command or an OS error's text with a path in it. The fields
    are for the operator's tools (the CLI adds the folder and the command that fetches the files).

    Args:
        name: the file relative to the data folder, as the message names it.
        problem: the rest of the sentence (``"is missing from the data folder"``).
        dataset: the data set's key in :data:`SOURCES` ("" when the file belongs to none).
        folder: the data folder (DATA_DIR), absolute.
    """

    def __init__(self, name: str, problem: str, dataset: str = "", folder: Path | None = None):
        super().__init__(f"{name} {problem}.", "dataset")
        self.name, self.problem, self.dataset = name, problem, dataset
        self.folder = (folder or Path()).absolute()

    def __reduce__(self) -> tuple:  # a worker process's error reaches its parent whole
        return DataFileError, (self.name, self.problem, self.dataset, self.folder)


def _named(path: Path, root: Path | None) -> str:
    """``path`` as a message names it: relative to the data folder ``root``, else its file name."""
    if root is not None and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return path.name


def _error(path: Path, root: Path | None, dataset: str, problem: str) -> DataFileError:
    return DataFileError(_named(path, root), problem, dataset, root if root is not None else path.parent)


# where whatever the project writes or fetches lives by default ($CACHE_ROOT): relative to the working
# directory, never inside the installed package (the server's folders derive from it too)
CACHE_ROOT = "cache-dir"


def data_dir(given: str | os.PathLike | None = None) -> Path:
    """The folder of the data files: ``given``, else $DATA_DIR, else ``data`` under $CACHE_ROOT
    (default ``cache-dir`` in the working directory)."""
    if given:
        return Path(given)
    return Path(os.environ.get("DATA_DIR") or Path(os.environ.get("CACHE_ROOT") or CACHE_ROOT) / "data")


@dataclass(frozen=True, slots=True)
class Images:
    """A data set's images (N, C, H, W) or signals (N, 1, L) as float32 in [0, 1] (MNIST-1D: as made)
    and int64 labels; ``x_test`` is None where the set has no official test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


# ---- IDX (MNIST, Fashion-MNIST) --------------------------------------------------------------


def _read_bytes(path: Path, root: Path | None = None, dataset: str = "") -> bytes:
    """The file's bytes, gunzipped when it starts with gzip's magic (whatever its name says)."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise _error(path, root, dataset, f"is damaged: its gzip data is broken ({err})") from None
    except OSError as err:  # its text would name the absolute path: only the reason goes on
        raise _error(path, root, dataset, f"cannot be read: {err.strerror or type(err).__name__}") from None


def read_idx(path: Path, root: Path | None = None, dataset: str = "") -> np.ndarray:
    """An IDX file as an array: magic 0, 0, a type byte, the number of dimensions; then each
    dimension as a big-endian uint32; then the values, exactly as many as the dimensions say.
    Errors name the file relative to the data folder ``root`` (its file name when None)."""
    data = _read_bytes(path, root, dataset)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or not 1 <= data[3] <= 4:
        raise _error(path, root, dataset, f"is not an IDX file: its first bytes are {data[:4].hex() or 'missing'}")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise _error(path, root, dataset, "is damaged: its IDX header is cut short")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(data) - 4 - 4 * ndim
    if body != expected:
        raise _error(path, root, dataset, f"is damaged: its header says {shape} ({expected:,} bytes of values) "
                                          f"but it holds {body:,}")
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape)


def _find(folder: Path, name: str, dataset: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataFileError(f"{_named(folder / name, folder.parent)}(.gz)", "is missing from the data folder", dataset,
                        folder.parent)


def _idx_pair(folder: Path, prefix: str, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    root = folder.parent  # the data folder: the set's files are in root/<dataset>
    images_path = _find(folder, f"{prefix}-images-idx3-ubyte", dataset)
    labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte", dataset)
    images, labels = read_idx(images_path, root, dataset), read_idx(labels_path, root, dataset)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise _error(images_path, root, dataset,
                     f"does not hold images: expected uint8 (N, H, W), found {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise _error(labels_path, root, dataset,
                     f"does not match its images: expected {len(images)} labels, found shape {labels.shape}")
    if labels.size and int(labels.max()) >= CLASSES:
        raise _error(labels_path, root, dataset, f"is damaged: a label is {int(labels.max())}, not a class 0–9")
    return (images.astype(np.float32) / 255.0)[:, None], labels.astype(np.int64)


def load_idx_set(folder: Path, dataset: str) -> Images:
    """MNIST or Fashion-MNIST from the four IDX files in ``folder`` (``DATA_DIR/<dataset>``), official split."""
    x_train, y_train = _idx_pair(folder, "train", dataset)
    x_test, y_test = _idx_pair(folder, "t10k", dataset)
    return Images(x_train, y_train, x_test, y_test)


# ---- CIFAR-10 binary -------------------------------------------------------------------------

CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST = ("test_batch.bin",)


def read_cifar_batch(path: Path, root: Path | None = None, dataset: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of one label byte and 3,072 pixel bytes (R, G, B planes).
    Errors name the file relative to the data folder ``root`` (its file name when None)."""
    try:
        raw = path.read_bytes()
    except OSError as err:  # its text would name the absolute path: only the reason goes on
        raise _error(path, root, dataset, f"cannot be read: {err.strerror or type(err).__name__}") from None
    if not raw or len(raw) % CIFAR_RECORD:
        raise _error(path, root, dataset,
                     f"is damaged: {len(raw):,} bytes is not a whole number of {CIFAR_RECORD:,}-byte records")
    records = np.frombuffer(raw, np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0]
    if int(labels.max()) >= CLASSES:
        raise _error(path, root, dataset, f"is damaged: a label is {int(labels.max())}, not a class 0–9")
    return (records[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0), labels.astype(np.int64)


def _cifar_folder(root: Path) -> Path:
    inner = root / "cifar-10-batches-bin"
    return inner if inner.is_dir() else root


def load_cifar10(root: Path) -> Images:
    """CIFAR-10's binary version: five training batches and the test batch in ``root``
    (``DATA_DIR/cifar10``, or its ``cifar-10-batches-bin`` folder), official split."""
    folder = _cifar_folder(root)

    def batches(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        parts = []
        for name in names:
            path = folder / name
            if not path.is_file():
                raise _error(path, root.parent, "cifar10", "is missing from the data folder")
            parts.append(read_cifar_batch(path, root.parent))
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    return Images(*batches(CIFAR_TRAIN), *batches(CIFAR_TEST))


# ---- generated and shipped sets ----------------------------------------------------------------


_NUMPY_GLOBAL_RNG = threading.Lock()


def load_mnist1d() -> Images:
    """MNIST-1D (Greydanus 2020) made by its package's generator with the default arguments:
    4,000 training and 1,000 test signals of length 40. numpy's global random state is restored."""
    from mnist1d.data import get_dataset_args, make_dataset

    with _NUMPY_GLOBAL_RNG:  # the generator seeds numpy's global state: one thread at a time
        state = np.random.get_state()
        try:
            made = make_dataset(get_dataset_args())
        finally:
            np.random.set_state(state)
    return Images(made["x"].astype(np.float32)[:, None], made["y"].astype(np.int64),
                  made["x_test"].astype(np.float32)[:, None], made["y_test"].astype(np.int64))


def load_digits() -> Images:
    """scikit-learn's 8 × 8 digits (1,797 images, values 0–16 scaled to [0, 1]); no official split."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    return Images((bunch.images / 16.0).astype(np.float32)[:, None], bunch.target.astype(np.int64))


@dataclass(frozen=True, slots=True)
class DataSource:
    key: str
    title: str
    load: Callable[[Path], Images]
    shape: tuple[int, ...]  # one input's shape
    size: int  # images in the training set (the digits: in the whole set, before the split)
    help: str
    files: tuple[tuple[str, str], ...] = ()  # (URL, MD5) of the standard files, for fetch
    folder: str = ""


MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
FASHION_MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
SOURCES: dict[str, DataSource] = {
    row.key: row
    for row in (
        DataSource("digits", "digits (8 × 8)", lambda _dir: load_digits(), (1, 8, 8), 1797,
                   "scikit-learn's handwritten digits: 1,797 images of 8 × 8, split with a seed"),
        DataSource("mnist1d", "MNIST-1D", lambda _dir: load_mnist1d(), (1, 40), 4000,
                   "MNIST-1D: 4,000 + 1,000 signals of length 40, generated offline"),
        DataSource("mnist", "MNIST", lambda d: load_idx_set(d / "mnist", "mnist"), (1, 28, 28), 60000,
                   "MNIST: 60,000 + 10,000 images of 28 × 28 from the IDX files in DATA_DIR/mnist",
                   tuple(zip((MNIST_MIRROR + n for n in IDX_NAMES),
                             ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                              "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
                   "mnist"),
        DataSource("fashion-mnist", "Fashion-MNIST", lambda d: load_idx_set(d / "fashion-mnist", "fashion-mnist"),
                   (1, 28, 28), 60000,
                   "Fashion-MNIST: 60,000 + 10,000 images of 28 × 28 from the IDX files in DATA_DIR/fashion-mnist",
                   tuple(zip((FASHION_MIRROR + n for n in IDX_NAMES),
                             ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                              "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"))),
                   "fashion-mnist"),
        DataSource("cifar10", "CIFAR-10", lambda d: load_cifar10(d / "cifar10"), (3, 32, 32), 50000,
                   "CIFAR-10: 50,000 + 10,000 colour images of 32 × 32 from the binary batches in DATA_DIR/cifar10",
                   (("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                     "c32a1d4ab5d03f1284b67883e8d87530"),), "cifar10"),
    )
}


# ---- fetching ----------------------------------------------------------------------------------


def md5sum(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _extract_cifar(archive: Path, folder: Path, root: Path) -> None:
    """The six binary batches out of the archive, by name only (no other member, no path from it)."""
    wanted = set(CIFAR_TRAIN + CIFAR_TEST)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and name in wanted:
                source = tar.extractfile(member)
                assert source is not None
                with source, open(folder / name, "wb") as out:
                    shutil.copyfileobj(source, out)
                wanted.discard(name)
    if wanted:
        raise _error(archive, root, "cifar10", f"is damaged: the archive lacks {', '.join(sorted(wanted))}")


def fetch(dataset: str, root: Path, log: Callable[[str], None] = print,
          opener: Callable[[str], object] = urllib.request.urlopen) -> Path:
    """Download a data set's standard files into ``root/<folder>`` and check their MD5 sums.

    A file already there with the right sum is kept; a download with the wrong sum is deleted
    and reported. Returns the folder. Digits and MNIST-1D need no files.
    """
    source = SOURCES.get(dataset)
    if source is None:
        raise InvalidSpec(f"unknown dataset {dataset!r:.40}; choose one of {', '.join(SOURCES)}", "dataset")
    if not source.files:
        raise InvalidSpec(f"{dataset} needs no files: it ships with the project (or is generated)", "dataset")
    folder = root / source.folder
    folder.mkdir(parents=True, exist_ok=True)
    for url, md5 in source.files:
        target = folder / url.rsplit("/", 1)[1]
        if target.is_file() and md5sum(target) == md5:
            log(f"{target}: present, MD5 ok")
        else:
            log(f"{target}: downloading {url}")
            with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".part") as part:
                try:
                    with opener(url) as response:  # type: ignore[attr-defined]
                        shutil.copyfileobj(response, part)
                except OSError as err:
                    Path(part.name).unlink(missing_ok=True)
                    raise _error(target, root, dataset,
                                 f"could not be downloaded from {url}: {err.strerror or err}") from None
            got = md5sum(Path(part.name))
            if got != md5:
                Path(part.name).unlink(missing_ok=True)
                raise _error(target, root, dataset, f"was downloaded from {url} with MD5 {got}, not the published "
                                                    f"{md5}: nothing was written")
            os.replace(part.name, target)
            log(f"{target}: MD5 ok")
        if target.name.endswith(".tar.gz"):
            _extract_cifar(target, folder, root)
    return folder
