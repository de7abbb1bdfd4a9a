"""Real networks on a real data set that ships offline: scikit-learn's handwritten digits.

Data, the model registry (an MLP, a small CNN, the CNN with a skip connection), seeded
training with any optimizer of the registry, and the flat parameter vector view that the
landscapes need. Nothing here fetches data: ``load_digits`` reads the copy inside scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param, check_fields, defaults
from compute.specs import OptimizerSpec, _Keyed

# ---- data --------------------------------------------------------------------------------


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # the data set ships inside scikit-learn

    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


DATASETS: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {"digits": _digits}
DATA_SPLIT_PARAMS: tuple[Param, ...] = (
    Param("split_seed", int, 0, 0, 2**32 - 1, help="seed of the train/test split", slider=False),
    Param("test_fraction", float, 0.25, 0.05, 0.5, help="share of the images held out for testing"),
)
_SPLIT = defaults(DATA_SPLIT_PARAMS)


@dataclass(frozen=True, slots=True)
class DatasetSpec(_Keyed):
    """A data set from the registry, split into train and test with a seed."""

    name: str = "digits"
    split_seed: int = _SPLIT["split_seed"]
    test_fraction: float = _SPLIT["test_fraction"]
    PARAMS: ClassVar[tuple[Param, ...]] = DATA_SPLIT_PARAMS

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise InvalidSpec(f"unknown dataset {self.name!r:.40}; choose one of {', '.join(DATASETS)}", "dataset")
        check_fields(self, DATA_SPLIT_PARAMS, "dataset")


@dataclass(frozen=True, slots=True)
class Split:
    """Train and test images (N, 1, 8, 8) in [0, 1] and their labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@lru_cache(maxsize=8)
def load_split(spec: DatasetSpec) -> Split:
    """The data set split by a seeded permutation: the first ``test_fraction`` is the test set."""
    images, labels = DATASETS[spec.name]()
    order = np.random.default_rng(spec.split_seed).permutation(len(labels))
    n_test = round(spec.test_fraction * len(labels))
    test, train = order[:n_test], order[n_test:]
    x = torch.from_numpy(images).unsqueeze(1)
    y = torch.from_numpy(labels)
    return Split(x[train], y[train], x[test], y[test])


# ---- models ------------------------------------------------------------------------------


class MLP(nn.Module):
    """64 → 32 → 10, ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class SmallCNN(nn.Module):
    """conv 1→8, conv 8→8 (with an optional identity skip around it), 2×2 max-pool, linear 128→10."""

    def __init__(self, skip: bool = False) -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        z = self.conv2(h)
        h = torch.relu(z + h if self.skip else z)
        return self.fc(torch.nn.functional.max_pool2d(h, 2).flatten(1))


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    title: str
    build: Callable[[], nn.Module]
    help: str


MODELS: dict[str, ModelInfo] = {
    row.key: row
    for row in (
        ModelInfo("mlp", "MLP 64-32-10", MLP, "one hidden layer of 32 ReLU units"),
        ModelInfo("cnn", "CNN", lambda: SmallCNN(skip=False), "two 3×3 conv layers, max-pool, linear"),
        ModelInfo("cnn-skip", "CNN + skip", lambda: SmallCNN(skip=True),
                  "the CNN with an identity skip around its second conv layer"),
    )
}


def build_model(key: str, seed: int) -> nn.Module:
    """A fresh model with torch's default initialization, drawn from ``seed`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[key].build()


# ---- flat parameters ---------------------------------------------------------------------


def flat_params(model: nn.Module) -> torch.Tensor:
    """All parameters as one detached float32 vector, in ``named_parameters`` order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def param_shapes(model: nn.Module) -> list[tuple[str, torch.Size]]:
    return [(name, p.shape) for name, p in model.named_parameters()]


def unflatten(vector: torch.Tensor, shapes: list[tuple[str, torch.Size]]) -> dict[str, torch.Tensor]:
    """A flat vector back to named tensors (views into the vector)."""
    out, start = {}, 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        out[name] = vector[start : start + size].view(shape)
        start += size
    return out


# ---- training ----------------------------------------------------------------------------

TRAIN_PARAMS: tuple[Param, ...] = (
    Param("epochs", int, 20, 1, 200, log=True, help="passes over the training set"),
    Param("batch_size", int, 64, 1, 1347, log=True, help="images per optimizer step"),
    Param("seed", int, 0, 0, 2**32 - 1, help="seed of the initial weights and the batch order", slider=False),
)
_TRAIN = defaults(TRAIN_PARAMS)
# Networks train by default with SGD, lr 0.1 and momentum 0.9 (the registry's SGD has momentum 0).
TRAIN_OPTIMIZER = OptimizerSpec("sgd", (("lr", 0.1), ("momentum", 0.9)))


@dataclass(frozen=True, slots=True)
class TrainSpec(_Keyed):
    """One model trained on one split with one optimizer: everything that fixes its weights."""

    model: str = "cnn"
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    optimizer: OptimizerSpec = field(default_factory=lambda: TRAIN_OPTIMIZER)
    epochs: int = _TRAIN["epochs"]
    batch_size: int = _TRAIN["batch_size"]
    seed: int = _TRAIN["seed"]
    PARAMS: ClassVar[tuple[Param, ...]] = TRAIN_PARAMS

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise InvalidSpec(f"unknown model {self.model!r:.40}; choose one of {', '.join(MODELS)}", "model")
        check_fields(self, TRAIN_PARAMS, "train")


@dataclass(frozen=True, slots=True)
class Trained:
    """Flat parameters at the start and after every epoch, and train/test loss and accuracy per epoch.

    ``path[k]`` holds the parameters after k epochs (``path[0]`` the initial ones).
    """

    path: np.ndarray  # (epochs + 1, P) float32
    train_loss: np.ndarray  # (epochs + 1,)
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray

    @property
    def initial(self) -> np.ndarray:
        return self.path[0]

    @property
    def final(self) -> np.ndarray:
        return self.path[-1]


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y)."""
    logits = model(x)
    return (torch.nn.functional.cross_entropy(logits, y).item(),
            (logits.argmax(1) == y).float().mean().item())


def train(spec: TrainSpec, progress: Callable[[int, int], None] | None = None) -> Trained:
    """Train with cross-entropy, mini-batches in a seeded order, the registry's optimizer.

    Each epoch: for each batch of a permutation drawn from a generator seeded with ``seed``,
    ``zero_grad(); cross_entropy(model(xb), yb).backward(); step()``. The parameters and the
    train/test metrics are recorded before the first epoch and after each one.
    """
    split = load_split(spec.dataset)
    model = build_model(spec.model, spec.seed)
    optimizer = OPTIMIZERS[spec.optimizer.name].build(model.parameters(), spec.optimizer.values)
    generator = torch.Generator().manual_seed(spec.seed)
    n = len(split.y_train)
    path, metrics = [flat_params(model)], [(*evaluate(model, split.x_train, split.y_train),
                                             *evaluate(model, split.x_test, split.y_test))]
    for epoch in range(spec.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, spec.batch_size):
            index = order[start : start + spec.batch_size]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(split.x_train[index]), split.y_train[index]).backward()
            optimizer.step()
        path.append(flat_params(model))
        metrics.append((*evaluate(model, split.x_train, split.y_train), *evaluate(model, split.x_test, split.y_test)))
        if progress is not None:
            progress(epoch + 1, spec.epochs)
    table = np.array(metrics, dtype=np.float64)
    return Trained(torch.stack(path).numpy(), table[:, 0], table[:, 1], table[:, 2], table[:, 3])
