"""Real networks on real data: the digits, MNIST-1D, MNIST, Fashion-MNIST and CIFAR-10.

Data splits (files in compute/datasets.py), the model registry (an MLP, small CNNs with and without a
skip, the article's CNN, CIFAR ResNets with BatchNorm with and without skips, each with a width
multiplier), seeded training with any optimizer of the registry, and the flat parameter and state
vectors that the landscapes need. Nothing here downloads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from compute.datasets import SOURCES, Images, data_dir
from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param, param_fields
from compute.schedules import SCHEDULES, torch_scheduler
from compute.specs import OptimizerSpec, ScheduleSpec, _Keyed

# ---- data --------------------------------------------------------------------------------

DATASETS = SOURCES  # the data set registry (compute/datasets.py): files, shapes, fetching
DATA_SPLIT_PARAMS: tuple[Param, ...] = (
    Param("split_seed", int, 0, 0, 2**32 - 1, help="seed of the train/test split and of the subsets", slider=False),
    Param("test_fraction", float, 0.25, 0.05, 0.5,
          help="share of the images held out for testing (sets without an official test split)"),
    Param("train_size", int, 0, 0, 60000, help="training images used, a seeded subset; 0: all", slider=False),
    Param("test_size", int, 0, 0, 10000, help="test images used, a seeded subset; 0: all", slider=False),
)


@dataclass(frozen=True, slots=True)
@param_fields(DATA_SPLIT_PARAMS, "dataset")
class DatasetSpec(_Keyed):
    """A data set from the registry: its official train/test split, or one drawn with a seed where it
    has none (the digits), and seeded subsets of ``train_size`` and ``test_size`` images (0: all)."""

    name: str = "digits"

    def __post_init__(self) -> None:
        if self.name not in DATASETS:
            raise InvalidSpec(f"unknown dataset {self.name!r:.40}; choose one of {', '.join(DATASETS)}", "dataset")

    @property
    def shape(self) -> tuple[int, ...]:
        """One input's shape: (C, H, W) for images, (1, L) for signals."""
        return DATASETS[self.name].shape


@dataclass(frozen=True, slots=True)
class Split:
    """Train and test inputs (N, *shape), float32, and their labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


@lru_cache(maxsize=2)  # a whole set in float32 (CIFAR-10: 737 MB): a worker keeps at most two
def _images(name: str, folder: str) -> Images:
    return DATASETS[name].load(Path(folder))


def load_split(spec: DatasetSpec, folder: str | os.PathLike | None = None) -> Split:
    """The spec's train and test sets. Sets without an official split (the digits) are split by a
    permutation seeded with ``split_seed``: its first ``test_fraction`` is the test set. Subsets keep
    the first ``train_size`` (``test_size``) images of a permutation seeded with ``split_seed``.
    ``folder`` holds the data files (default: $DATA_DIR, see compute.datasets.data_dir)."""
    return _split(spec, str(data_dir(folder)))


@lru_cache(maxsize=8)
def _split(spec: DatasetSpec, folder: str) -> Split:
    images = _images(spec.name, folder)
    if images.x_test is None or images.y_test is None:
        order = np.random.default_rng(spec.split_seed).permutation(len(images.y_train))
        n_test = round(spec.test_fraction * len(order))
        test, train_ = order[:n_test], order[n_test:]
        parts = (images.x_train[train_], images.y_train[train_], images.x_train[test], images.y_train[test])
    else:
        parts = (images.x_train, images.y_train, images.x_test, images.y_test)
    x_train, y_train, x_test, y_test = parts
    rng = np.random.default_rng([spec.split_seed, 1])
    if 0 < spec.train_size < len(y_train):
        keep = np.sort(rng.permutation(len(y_train))[: spec.train_size])
        x_train, y_train = x_train[keep], y_train[keep]
    if 0 < spec.test_size < len(y_test):
        keep = np.sort(rng.permutation(len(y_test))[: spec.test_size])
        x_test, y_test = x_test[keep], y_test[keep]
    return Split(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_test, y_test)))


# ---- models ------------------------------------------------------------------------------


def _pixels(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape))


class MLP(nn.Module):
    """inputs → 32·width → 10, ReLU (on the digits at width 1: 64-32-10)."""

    def __init__(self, shape: tuple[int, ...] = (1, 8, 8), width: int = 1) -> None:
        super().__init__()
        self.fc1 = nn.Linear(_pixels(shape), 32 * width)
        self.fc2 = nn.Linear(32 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


class SmallCNN(nn.Module):
    """conv C→8·width, conv 8·width→8·width (with an optional identity skip around it), 2×2
    max-pool, linear to 10."""

    def __init__(self, skip: bool = False, shape: tuple[int, ...] = (1, 8, 8), width: int = 1) -> None:
        super().__init__()
        channels, height, breadth = shape
        self.skip = skip
        self.conv1 = nn.Conv2d(channels, 8 * width, 3, padding=1)
        self.conv2 = nn.Conv2d(8 * width, 8 * width, 3, padding=1)
        self.fc = nn.Linear(8 * width * (height // 2) * (breadth // 2), 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv1(x))
        z = self.conv2(h)
        h = torch.relu(z + h if self.skip else z)
        return self.fc(torch.nn.functional.max_pool2d(h, 2).flatten(1))


class ArticleCNN(nn.Module):
    """The two-conv CNN of the article (PyTorch's MNIST example without dropout): conv C→32·w 3×3,
    ReLU, conv 32·w→64·w 3×3, ReLU, 2×2 max-pool, linear → 128·w, ReLU, linear → 10. On 28 × 28
    inputs at width 1: 1,199,882 parameters."""

    def __init__(self, shape: tuple[int, ...] = (1, 28, 28), width: int = 1) -> None:
        super().__init__()
        channels, height, breadth = shape
        self.conv1 = nn.Conv2d(channels, 32 * width, 3)
        self.conv2 = nn.Conv2d(32 * width, 64 * width, 3)
        self.fc1 = nn.Linear(64 * width * ((height - 4) // 2) * ((breadth - 4) // 2), 128 * width)
        self.fc2 = nn.Linear(128 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        h = torch.nn.functional.max_pool2d(h, 2).flatten(1)
        return self.fc2(torch.relu(self.fc1(h)))


class BasicBlock(nn.Module):
    """He et al.'s basic block: conv-BN-ReLU-conv-BN, plus the shortcut when ``skip`` (a 1×1 conv
    with BN where the shape changes), then ReLU. Without ``skip`` it is Li et al.'s "noshort" block."""

    def __init__(self, inputs: int, outputs: int, stride: int, skip: bool) -> None:
        super().__init__()
        self.skip = skip
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential()
        if skip and (stride != 1 or inputs != outputs):
            self.shortcut = nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + self.shortcut(x) if self.skip else out)


class ResNet(nn.Module):
    """A CIFAR ResNet (He et al. 2016, §4.2): conv 3×3 to 16·w channels with BN, three stages of
    ``blocks`` basic blocks (16·w, 32·w, 64·w channels; the last two halve the size), global average
    pooling, linear to 10. Depth 6·blocks + 2; ``skip`` False drops every shortcut."""

    def __init__(self, blocks: int = 1, skip: bool = True, shape: tuple[int, ...] = (3, 32, 32),
                 width: int = 1) -> None:
        super().__init__()
        channels = shape[0]
        self.conv = nn.Conv2d(channels, 16 * width, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16 * width)
        layers, inputs = [], 16 * width
        for stage, outputs in enumerate((16 * width, 32 * width, 64 * width)):
            for k in range(blocks):
                layers.append(BasicBlock(inputs, outputs, 2 if stage and not k else 1, skip))
                inputs = outputs
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(inputs, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.layers(torch.relu(self.bn(self.conv(x))))
        return self.fc(h.mean((2, 3)))


def _images_only(least: int) -> Callable[[tuple[int, ...]], str | None]:
    def check(shape: tuple[int, ...]) -> str | None:
        if len(shape) != 3:
            return "needs images (MNIST-1D's signals suit the MLP)"
        if min(shape[1:]) < least:
            return f"needs images of at least {least} × {least}"
        return None

    return check


@dataclass(frozen=True, slots=True)
class ModelInfo:
    key: str
    title: str
    build: Callable[[tuple[int, ...], int], nn.Module]  # (input shape, width) -> a fresh model
    help: str
    refuses: Callable[[tuple[int, ...]], str | None] = lambda shape: None  # why a data shape does not fit
    # grid points a forward pass when evaluating a landscape (torch.func.vmap over stacked states):
    # more than 1 only where bench landscape measures it faster (small dense layers, not convolutions)
    points_per_pass: int = 1


MODELS: dict[str, ModelInfo] = {
    row.key: row
    for row in (
        ModelInfo("mlp", "MLP", MLP, "one hidden layer of 32·width ReLU units", points_per_pass=32),
        ModelInfo("cnn", "CNN", lambda s, w: SmallCNN(False, s, w), "two 3×3 conv layers of 8·width channels, max-pool, linear",
                  _images_only(2)),
        ModelInfo("cnn-skip", "CNN + skip", lambda s, w: SmallCNN(True, s, w),
                  "the CNN with an identity skip around its second conv layer", _images_only(2)),
        ModelInfo("cnn-article", "article's CNN", ArticleCNN,
                  "the article's two-conv CNN (32·w and 64·w channels, linear 128·w): 1.2M parameters on MNIST",
                  _images_only(6)),
        ModelInfo("resnet8", "ResNet-8", lambda s, w: ResNet(1, True, s, w),
                  "a CIFAR ResNet with BatchNorm, one basic block a stage, with skip connections", _images_only(4)),
        ModelInfo("resnet8-noskip", "ResNet-8, no skips", lambda s, w: ResNet(1, False, s, w),
                  "ResNet-8 without its skip connections", _images_only(4)),
        ModelInfo("resnet20", "ResNet-20", lambda s, w: ResNet(3, True, s, w),
                  "Li et al.'s ResNet-20: three basic blocks a stage, BatchNorm, skip connections", _images_only(4)),
        ModelInfo("resnet20-noskip", "ResNet-20, no skips", lambda s, w: ResNet(3, False, s, w),
                  "ResNet-20 without its skip connections (Li et al.'s noshort)", _images_only(4)),
    )
}
MAX_PARAMETERS = 20_000_000  # a model larger than this is refused before it is built


# torch's default initialization draws from the process's global generator: a build seeds it (in
# a fork_rng) under this lock, so builds in several threads each draw their own seed's weights
# (measured without it: 17 wrong models in 400 builds from 8 threads)
_GLOBAL_RNG = threading.Lock()


def build_model(key: str, seed: int, shape: tuple[int, ...] = (1, 8, 8), width: int = 1) -> nn.Module:
    """A fresh model for inputs of ``shape`` with torch's default initialization, drawn from
    ``seed`` (global RNG untouched; safe from several threads at once)."""
    with _GLOBAL_RNG, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[key].build(shape, width)


def count_parameters(key: str, shape: tuple[int, ...], width: int) -> int:
    """The model's parameter count, from a model built on the meta device (no memory, no time)."""
    with torch.device("meta"):
        return sum(p.numel() for p in MODELS[key].build(shape, width).parameters())


# ---- flat parameters and states ---------------------------------------------------------


def flat_params(model: nn.Module) -> torch.Tensor:
    """All parameters as one detached float32 vector, in ``named_parameters`` order."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()


def param_shapes(model: nn.Module) -> list[tuple[str, torch.Size]]:
    return [(name, p.shape) for name, p in model.named_parameters()]


def buffer_shapes(model: nn.Module) -> list[tuple[str, torch.Size]]:
    """The floating-point buffers (BatchNorm's running mean and variance), in ``named_buffers``
    order; integer counters (``num_batches_tracked``) are not part of a state vector."""
    return [(name, b.shape) for name, b in model.named_buffers() if b.is_floating_point()]


def state_shapes(model: nn.Module) -> list[tuple[str, torch.Size]]:
    """The layout of a state vector: the parameters, then the floating-point buffers."""
    return param_shapes(model) + buffer_shapes(model)


def flat_buffers(model: nn.Module) -> torch.Tensor:
    names = dict(model.named_buffers())
    parts = [names[name].detach().reshape(-1).float() for name, _ in buffer_shapes(model)]
    return torch.cat(parts).clone() if parts else torch.zeros(0)


def flat_state(model: nn.Module) -> torch.Tensor:
    """The model's state vector (``state_shapes``' layout): its parameters, then its floating-point
    buffers, as one detached float32 copy."""
    return torch.cat([flat_params(model).float(), flat_buffers(model)])


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
    Param("batch_size", int, 64, 1, 60000, log=True, help="images per optimizer step",
          span=(1, 1348)),  # to the digits' whole training set (1,797 − 449 held out): full-batch descent
    Param("seed", int, 0, 0, 2**32 - 1, help="seed of the initial weights and the batch order", slider=False),
    Param("width", int, 1, 1, 16, log=True,
          help="width multiplier: hidden units and channels × width (wider nets, smoother landscapes)"),
)
# Networks train by default with SGD, lr 0.1 and momentum 0.9 (the registry's SGD has momentum 0).
TRAIN_OPTIMIZER = OptimizerSpec("sgd", (("lr", 0.1), ("momentum", 0.9)))


@dataclass(frozen=True, slots=True)
@param_fields(TRAIN_PARAMS, "train")
class TrainSpec(_Keyed):
    """One model trained on one split with one optimizer: everything that fixes its weights."""

    model: str = "cnn"
    dataset: DatasetSpec = field(default_factory=DatasetSpec)
    optimizer: OptimizerSpec = field(default_factory=lambda: TRAIN_OPTIMIZER)
    # a learning-rate schedule, stepped after every optimizer step (per_epoch: after an epoch's last batch)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values; without a schedule, as before schedules came (the same cache key,
        so weights trained then are found again, and files written then still read)."""
        values = _Keyed.to_dict(self)
        if self.schedule.name == "none":
            del values["schedule"]
        return values

    @property
    def schedule_steps(self) -> int:
        """How many times the schedule steps: once per optimizer step, or per epoch (loads the split
        to count its batches; called only where a schedule is set)."""
        if self.schedule.per_epoch:
            return self.epochs
        return self.epochs * -(-len(load_split(self.dataset).y_train) // self.batch_size)

    def __post_init__(self) -> None:
        if self.schedule.name != "none":
            SCHEDULES[self.schedule.name].check(self.schedule.values, self.optimizer.name, self.optimizer.values,
                                                self.schedule_steps)
        if self.model not in MODELS:
            raise InvalidSpec(f"unknown model {self.model!r:.40}; choose one of {', '.join(MODELS)}", "model")
        row, shape = MODELS[self.model], self.dataset.shape
        why = row.refuses(shape)
        if why:
            raise InvalidSpec(f"the {row.title} {why}; {self.dataset.name} has inputs of shape "
                              f"{' × '.join(map(str, shape))}", "model")
        size = count_parameters(self.model, shape, self.width)
        if size > MAX_PARAMETERS:
            raise InvalidSpec(f"the {row.title} at width {self.width} on {self.dataset.name} has {size:,} parameters; "
                              f"the cap is {MAX_PARAMETERS:,}: choose a smaller width", "train.width")

    @classmethod
    def from_dict(cls, values: Any) -> TrainSpec:
        """The spec ``to_dict`` wrote (JSON read back), checked as any spec is."""
        try:
            optimizer = values["optimizer"]
            schedule = values.get("schedule") or {"name": "none", "params": []}
            return cls(model=values["model"], dataset=DatasetSpec(**values["dataset"]),
                       optimizer=OptimizerSpec(optimizer["name"], tuple(tuple(p) for p in optimizer["params"])),
                       schedule=ScheduleSpec(schedule["name"], tuple(tuple(p) for p in schedule["params"])),
                       **{p.name: values[p.name] for p in TRAIN_PARAMS})
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidSpec(f"not a training spec ({type(err).__name__}: {str(err)[:80]})", "train") from None

    def build(self, seed: int | None = None) -> nn.Module:
        """A fresh model of this spec (initialized from ``seed``, default the spec's)."""
        return build_model(self.model, self.seed if seed is None else seed, self.dataset.shape, self.width)


@dataclass(frozen=True, slots=True)
class Trained:
    """Flat parameters at the start and after every epoch, train/test loss and accuracy per epoch,
    and the floating-point buffers (BatchNorm's running statistics) at the start and at the end.

    ``path[k]`` holds the parameters after k epochs (``path[0]`` the initial ones); ``buffers[0]``
    and ``buffers[1]`` the initial and final buffers (no columns for models without any).
    """

    path: np.ndarray  # (epochs + 1, P) float32
    train_loss: np.ndarray  # (epochs + 1,)
    train_acc: np.ndarray
    test_loss: np.ndarray
    test_acc: np.ndarray
    buffers: np.ndarray = field(default_factory=lambda: np.zeros((2, 0), np.float32))  # (2, B)

    FIELDS: ClassVar[tuple[str, ...]] = ("path", "train_loss", "train_acc", "test_loss", "test_acc", "buffers")

    def to_tensors(self) -> dict[str, torch.Tensor]:
        """The arrays as named tensors (for a safetensors file: plain arrays, never a pickle)."""
        return {name: torch.from_numpy(np.ascontiguousarray(getattr(self, name))) for name in self.FIELDS}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> Trained:
        """Back from ``to_tensors`` (KeyError when a field is missing)."""
        return cls(*(tensors[name].numpy() for name in cls.FIELDS))

    @property
    def initial(self) -> np.ndarray:
        return self.path[0]

    @property
    def final(self) -> np.ndarray:
        return self.path[-1]

    @property
    def initial_state(self) -> np.ndarray:
        """The initial state vector: parameters, then buffers."""
        return np.concatenate([self.path[0], self.buffers[0]])

    @property
    def final_state(self) -> np.ndarray:
        """The trained state vector: parameters, then buffers."""
        return np.concatenate([self.path[-1], self.buffers[1]])


EVAL_CHUNK = 1024  # images per forward pass when evaluating a whole set


@torch.inference_mode()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on (x, y), in eval mode (BatchNorm uses its
    running statistics), in chunks of EVAL_CHUNK; the model's mode is restored."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    for start in range(0, len(y), EVAL_CHUNK):
        logits = model(x[start : start + EVAL_CHUNK])
        target = y[start : start + EVAL_CHUNK]
        total += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
        correct += int((logits.argmax(1) == target).sum())
    model.train(was_training)
    return total / max(1, len(y)), correct / max(1, len(y))


def train(spec: TrainSpec, progress: Callable[[int, int], None] | None = None,
          folder: str | os.PathLike | None = None,
          watch: Callable[[int, nn.Module, torch.optim.Optimizer], None] | None = None) -> Trained:
    """Train with cross-entropy, mini-batches in a seeded order, the registry's optimizer.

    Each epoch: for each batch of a permutation drawn from a generator seeded with ``seed``,
    ``zero_grad(); cross_entropy(model(xb), yb).backward(); step()`` in train mode, then the
    schedule's ``scheduler.step()`` (ReduceLROnPlateau: on the step's loss), or with ``per_epoch``
    once after the epoch's last batch (ReduceLROnPlateau: on the epoch's training loss). The parameters
    and the train/test metrics (eval mode) are recorded before the first epoch and after each one.
    ``watch(step, model, optimizer)`` is called before the first step (0) and after each one (the
    sharpness during training, compute/spectrum.py); it must not change them.
    """
    split = load_split(spec.dataset, folder)
    model = spec.build()
    model.train()
    optimizer = OPTIMIZERS[spec.optimizer.name].build(model.parameters(), spec.optimizer.values)
    schedule = spec.schedule
    scheduler = None if schedule.name == "none" else torch_scheduler(optimizer, schedule.name, schedule.values,
                                                                       spec.schedule_steps)
    plateau = SCHEDULES[schedule.name].plateau
    generator = torch.Generator().manual_seed(spec.seed)
    n = len(split.y_train)
    first_buffers = flat_buffers(model)
    path, metrics = [flat_params(model)], [(*evaluate(model, split.x_train, split.y_train),
                                             *evaluate(model, split.x_test, split.y_test))]
    step = 0
    if watch is not None:
        watch(step, model, optimizer)
    for epoch in range(spec.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, spec.batch_size):
            index = order[start : start + spec.batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(split.x_train[index]), split.y_train[index])
            loss.backward()
            optimizer.step()
            if scheduler is not None and not schedule.per_epoch:
                scheduler.step(loss.item()) if plateau else scheduler.step()
            step += 1
            if watch is not None:
                watch(step, model, optimizer)
        path.append(flat_params(model))
        metrics.append((*evaluate(model, split.x_train, split.y_train), *evaluate(model, split.x_test, split.y_test)))
        if scheduler is not None and schedule.per_epoch:  # (ReduceLROnPlateau: on the epoch's training loss)
            scheduler.step(metrics[-1][0]) if plateau else scheduler.step()
        if progress is not None:
            progress(epoch + 1, spec.epochs)
    table = np.array(metrics, dtype=np.float64)
    buffers = torch.stack((first_buffers, flat_buffers(model))).numpy()
    return Trained(torch.stack(path).numpy(), table[:, 0], table[:, 1], table[:, 2], table[:, 3], buffers)
