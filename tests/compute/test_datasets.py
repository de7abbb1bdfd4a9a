"""Data sets from their standard files: small files written here in the same formats (tests never
download); a missing or damaged file is one message naming it; fetching checks MD5 sums."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from compute.datasets import (
    CIFAR_RECORD,
    CIFAR_TEST,
    CIFAR_TRAIN,
    SOURCES,
    DataFileError,
    fetch,
    load_cifar10,
    load_idx_set,
    load_mnist1d,
    read_cifar_batch,
    read_idx,
)
from compute.nets import DatasetSpec, load_split


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file as its specification lays it out: 0, 0, type 0x08 (ubyte), dims, then values."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n_train: int = 30, n_test: int = 12, zipped: bool = True, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test)}
    for name, array in arrays.items():
        data = idx_bytes(array)
        (folder / (name + ".gz" if zipped else name)).write_bytes(gzip.compress(data) if zipped else data)
    return arrays


def write_cifar(folder: Path, per_batch: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in CIFAR_TRAIN + CIFAR_TEST:
        records = rng.integers(0, 256, (per_batch, CIFAR_RECORD)).astype(np.uint8)
        records[:, 0] = rng.integers(0, 10, per_batch)
        (folder / name).write_bytes(records.tobytes())
        written[name] = records
    return written


@pytest.mark.parametrize("zipped", [True, False])
def test_idx_files_read_exactly(tmp_path, zipped):
    arrays = write_idx_set(tmp_path / "mnist", zipped=zipped)
    images = load_idx_set(tmp_path / "mnist", "mnist")
    np.testing.assert_array_equal(images.x_train[:, 0] * 255, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(images.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert images.x_train.shape == (30, 1, 28, 28) and images.x_train.dtype == np.float32
    assert images.x_train.max() <= 1.0


def test_a_split_of_the_files_uses_the_official_test_set_and_seeded_subsets(tmp_path):
    arrays = write_idx_set(tmp_path / "mnist")
    split = load_split(DatasetSpec("mnist"), tmp_path)
    assert len(split.y_train) == 30 and len(split.y_test) == 12
    np.testing.assert_array_equal(split.y_test.numpy(), arrays["t10k-labels-idx1-ubyte"])
    sub = load_split(DatasetSpec("mnist", train_size=10, test_size=5), tmp_path)
    assert len(sub.y_train) == 10 and len(sub.y_test) == 5
    again = load_split(DatasetSpec("mnist", train_size=10, test_size=5), tmp_path)
    np.testing.assert_array_equal(sub.x_train.numpy(), again.x_train.numpy())
    other = load_split(DatasetSpec("mnist", train_size=10, split_seed=1), tmp_path)
    assert not np.array_equal(sub.y_train.numpy(), other.y_train.numpy())
    # each kept image is one of the file's, with its own label
    full = {arr.tobytes(): int(y) for arr, y in zip(split.x_train.numpy(), split.y_train.numpy())}
    assert all(full[x.tobytes()] == int(y) for x, y in zip(sub.x_train.numpy(), sub.y_train.numpy()))


def assert_participant_safe(err: DataFileError, data_folder: Path, dataset: str) -> None:
    """What a participant sees is one sentence naming the file inside the data folder: no absolute
    path, no shell command; the fields the operator's CLI needs are on the error."""
    message = str(err)
    assert str(data_folder) not in message and str(data_folder.resolve()) not in message
    assert "fetch-data" not in message and "python" not in message and "Errno" not in message
    assert "\n" not in message and message.endswith(".") and not message.startswith("/")
    assert err.folder == data_folder.absolute() and err.dataset == dataset
    assert message.startswith(f"{err.name} ") and not Path(err.name).is_absolute()
    again = pickle.loads(pickle.dumps(err))  # as from a worker process
    assert (str(again), again.field, again.folder, again.dataset) == (message, "dataset", err.folder, dataset)


@pytest.mark.parametrize(("damage", "fragment"), [
    (lambda data: data[:-7], "is damaged: its header says (30, 28, 28) (23,520 bytes of values) but it holds 23,513"),
    (lambda data: b"\x00\x00\x07\x03" + data[4:], "is not an IDX file: its first bytes are 00000703"),
    (lambda data: gzip.compress(data)[:40], "is damaged: its gzip data is broken"),
    (lambda data: b"", "is not an IDX file: its first bytes are missing"),
    (lambda data: data[:6], "is damaged: its IDX header is cut short"),
])
def test_a_damaged_idx_file_is_named_inside_the_data_folder(tmp_path, damage, fragment):
    write_idx_set(tmp_path / "mnist", zipped=False)
    target = tmp_path / "mnist" / "train-images-idx3-ubyte"
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(DataFileError) as err:
        load_idx_set(tmp_path / "mnist", "mnist")
    assert str(err.value).startswith(f"mnist/train-images-idx3-ubyte {fragment}")
    assert_participant_safe(err.value, tmp_path, "mnist")


def test_an_unreadable_file_gives_the_reason_without_the_path(tmp_path):
    (tmp_path / "mnist" / "train-images-idx3-ubyte").mkdir(parents=True)  # a folder: open() fails
    with pytest.raises(DataFileError) as err:
        read_idx(tmp_path / "mnist" / "train-images-idx3-ubyte", tmp_path, "mnist")
    assert str(err.value) == "mnist/train-images-idx3-ubyte cannot be read: Is a directory."
    assert_participant_safe(err.value, tmp_path, "mnist")
    (tmp_path / "cifar10" / "data_batch_1.bin").mkdir(parents=True)
    with pytest.raises(DataFileError) as err:
        read_cifar_batch(tmp_path / "cifar10" / "data_batch_1.bin", tmp_path)
    assert str(err.value) == "cifar10/data_batch_1.bin cannot be read: Is a directory."
    assert_participant_safe(err.value, tmp_path, "cifar10")
    with pytest.raises(DataFileError) as err:  # no data folder given: the file's own name only
        read_idx(tmp_path / "mnist" / "train-images-idx3-ubyte")
    assert str(err.value) == "train-images-idx3-ubyte cannot be read: Is a directory."


def test_labels_that_do_not_match_the_images_are_named(tmp_path):
    write_idx_set(tmp_path / "mnist", zipped=False)
    target = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    target.write_bytes(idx_bytes(np.full(12, 11)))
    with pytest.raises(DataFileError) as err:
        load_idx_set(tmp_path / "mnist", "mnist")
    assert str(err.value) == "mnist/t10k-labels-idx1-ubyte is damaged: a label is 11, not a class 0–9."
    target.write_bytes(idx_bytes(np.zeros(5)))
    with pytest.raises(DataFileError) as err:
        load_idx_set(tmp_path / "mnist", "mnist")
    assert str(err.value) == ("mnist/t10k-labels-idx1-ubyte does not match its images: "
                              "expected 12 labels, found shape (5,).")
    assert_participant_safe(err.value, tmp_path, "mnist")


def test_a_missing_file_is_named_inside_the_data_folder_with_what_fetches_it(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist")
    (tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DataFileError) as err:
        load_split(DatasetSpec("fashion-mnist"), tmp_path)
    assert str(err.value) == "fashion-mnist/t10k-images-idx3-ubyte(.gz) is missing from the data folder."
    assert_participant_safe(err.value, tmp_path, "fashion-mnist")  # the CLI's hint: tests/compute/test_cli.py


def test_read_idx_reads_other_value_types(tmp_path):
    values = np.arange(6, dtype=">i4").reshape(2, 3)
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), values)


def test_cifar_binary_batches_read_exactly(tmp_path):
    written = write_cifar(tmp_path / "cifar10" / "cifar-10-batches-bin")
    images = load_cifar10(tmp_path / "cifar10")
    assert images.x_train.shape == (20, 3, 32, 32) and images.x_test.shape == (4, 3, 32, 32)
    first = written["data_batch_1.bin"][0]
    assert images.y_train[0] == first[0]
    np.testing.assert_array_equal(images.x_train[0] * 255, first[1:].reshape(3, 32, 32))
    np.testing.assert_array_equal(images.y_test, written["test_batch.bin"][:, 0])


def test_a_damaged_or_missing_cifar_batch_is_named(tmp_path):
    write_cifar(tmp_path / "cifar10")
    target = tmp_path / "cifar10" / "data_batch_3.bin"
    target.write_bytes(target.read_bytes()[:-1])
    with pytest.raises(DataFileError) as err:
        load_cifar10(tmp_path / "cifar10")
    assert str(err.value) == ("cifar10/data_batch_3.bin is damaged: 12,291 bytes is not a whole number of "
                              "3,073-byte records.")
    assert_participant_safe(err.value, tmp_path, "cifar10")
    target.unlink()
    with pytest.raises(DataFileError) as err:
        load_cifar10(tmp_path / "cifar10")
    assert str(err.value) == "cifar10/data_batch_3.bin is missing from the data folder."
    assert_participant_safe(err.value, tmp_path, "cifar10")  # the data folder, not cifar10/
    write_cifar(tmp_path / "cifar10" / "cifar-10-batches-bin")
    (tmp_path / "cifar10" / "cifar-10-batches-bin" / "test_batch.bin").unlink()
    with pytest.raises(DataFileError) as err:
        load_cifar10(tmp_path / "cifar10")
    assert str(err.value) == "cifar10/cifar-10-batches-bin/test_batch.bin is missing from the data folder."


def test_mnist1d_is_generated_offline_and_leaves_numpy_alone():
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    images = load_mnist1d()
    assert np.random.rand() == expected
    assert images.x_train.shape == (4000, 1, 40) and images.x_test.shape == (1000, 1, 40)
    assert set(images.y_train.tolist()) == set(range(10))
    np.testing.assert_array_equal(load_mnist1d().x_test, images.x_test)


class _Response(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _opener(files: dict[str, bytes]):
    return lambda url: _Response(files[url.rsplit("/", 1)[1]])


def test_fetch_checks_md5_and_keeps_what_is_right(tmp_path, monkeypatch):
    payloads = {url.rsplit("/", 1)[1]: f"file {k}".encode() for k, (url, _) in enumerate(SOURCES["mnist"].files)}
    rows = tuple((url, hashlib.md5(payloads[url.rsplit("/", 1)[1]]).hexdigest()) for url, _ in SOURCES["mnist"].files)
    monkeypatch.setitem(SOURCES, "mnist", SOURCES["mnist"].__class__(
        **{**{f: getattr(SOURCES["mnist"], f) for f in SOURCES["mnist"].__slots__}, "files": rows}))
    lines: list[str] = []
    folder = fetch("mnist", tmp_path, lines.append, _opener(payloads))
    assert sorted(p.name for p in folder.iterdir()) == sorted(payloads)
    assert all(line.endswith("MD5 ok") for line in lines[1::2])
    lines.clear()
    fetch("mnist", tmp_path, lines.append, _opener({}))  # all present: nothing downloaded
    assert lines == [f"{folder / name}: present, MD5 ok" for name in payloads]


def test_fetch_refuses_a_wrong_checksum_and_writes_nothing(tmp_path):
    files = {url.rsplit("/", 1)[1]: b"not the real file" for url, _ in SOURCES["fashion-mnist"].files}
    with pytest.raises(DataFileError, match=r"^fashion-mnist/train-images-idx3-ubyte\.gz was downloaded from "
                                            r"http\S+ with MD5 \w+, not the published \w+: nothing was written\.$") as err:
        fetch("fashion-mnist", tmp_path, lambda line: None, _opener(files))
    assert_participant_safe(err.value, tmp_path, "fashion-mnist")
    assert list((tmp_path / "fashion-mnist").iterdir()) == []


def test_fetch_unpacks_only_cifars_batches(tmp_path, monkeypatch):
    batches = write_cifar(tmp_path / "made")
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        for name in (*CIFAR_TRAIN, *CIFAR_TEST, "batches.meta.txt"):
            source = tmp_path / "made" / name if name in batches else None
            data = source.read_bytes() if source else b"airplane\n"
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = archive.getvalue()
    row = SOURCES["cifar10"]
    monkeypatch.setitem(SOURCES, "cifar10", row.__class__(
        **{**{f: getattr(row, f) for f in row.__slots__}, "files": ((row.files[0][0], hashlib.md5(data).hexdigest()),)}))
    folder = fetch("cifar10", tmp_path, lambda line: None, _opener({"cifar-10-binary.tar.gz": data}))
    assert sorted(p.name for p in folder.iterdir()) == sorted((*CIFAR_TRAIN, *CIFAR_TEST, "cifar-10-binary.tar.gz"))
    assert len(load_cifar10(folder).y_train) == 20


def test_fetch_says_what_needs_no_files():
    from compute.errors import InvalidSpec

    with pytest.raises(InvalidSpec, match="needs no files"):
        fetch("digits", Path("."))
