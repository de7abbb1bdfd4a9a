"""How a network's loss is evaluated at many points of its state space: the engine.

A point is a flat state vector (parameters, then floating-point buffers) base + a·d₁ + b·d₂.
What the points are (directions, planes, lines: compute/landscape.py) is apart from how they are
evaluated here: devices, chunks of images, threads side by side, points batched by vmap, and the
model-specific fast paths. Another process or machine evaluating a plan's blocks (the web app's
Celery helpers) calls the same functions (``compute.landscape.evaluate_block``).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from compute.errors import InvalidSpec
from compute.nets import MODELS, TrainSpec, param_shapes, state_shapes, unflatten

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """"auto" is the GPU when torch sees one, else the CPU; "cuda" without a GPU is an error."""
    if name not in DEVICES:
        raise InvalidSpec(f"device must be one of {', '.join(DEVICES)} (got {name!r:.40})", "device")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidSpec("device cuda asked for, but torch sees no CUDA GPU here (use auto or cpu)", "device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


Data = tuple[torch.Tensor, torch.Tensor] | Iterable[tuple[torch.Tensor, torch.Tensor]]


def _batches(data: Data, device: torch.device,
             chunk: int | None = None) -> Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]]:
    """(x, y) tensors as chunks of ``chunk`` images (default IMAGE_CHUNK), or any re-iterable of
    (x, y) batches (a DataLoader), on ``device``."""
    if _tensors(data):
        size = chunk or IMAGE_CHUNK
        x, y = data[0].to(device), data[1].to(device)  # type: ignore[index]
        chunks = [(x[s:s + size], y[s:s + size]) for s in range(0, len(y), size)]
        return lambda: chunks
    return lambda: ((xb.to(device), yb.to(device)) for xb, yb in data)  # type: ignore[union-attr]


def _tensors(data: Data) -> bool:
    return isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data)


# Images per forward pass of evaluate_module: on the CPU a chunk of 128 keeps a conv net's
# activations in cache from one layer to the next (measured on the article's CNN: 128 images a
# pass 1.8 s a point, 512 a pass 3.5 s); a GPU wants large passes.
MODULE_CHUNK = {"cpu": 128, "cuda": 4096}


def _stacked(vectors: torch.Tensor, shapes: list[tuple[str, torch.Size]]) -> dict[str, torch.Tensor]:
    """K flat state vectors (K, P) as tensors with a leading K dimension, one per name."""
    out, offset = {}, 0
    for name, shape in shapes:
        size = int(np.prod(shape))
        out[name] = vectors[:, offset:offset + size].reshape(len(vectors), *shape)
        offset += size
    return out


def _module_points(model: torch.nn.Module, shapes: list[tuple[str, torch.Size]], base: torch.Tensor,
                   d1: torch.Tensor, d2: torch.Tensor, a: torch.Tensor, b: torch.Tensor,
                   chunks: Callable[[], Iterable[tuple[torch.Tensor, torch.Tensor]]], loss: Callable,
                   report: Callable[[int, int], None], points_per_pass: int,
                   channels_last: bool) -> tuple[np.ndarray, np.ndarray]:
    """evaluate_module's loop over points, ``points_per_pass`` points a forward pass (vmap)."""
    losses, accs = np.full(len(a), np.nan), np.full(len(a), np.nan)

    def call(state: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
        return functional_call(model, state, (xb,))

    batched = torch.func.vmap(call, in_dims=(0, None))
    reported = time.monotonic()
    for start in range(0, len(a), points_per_pass):
        rows = slice(start, start + points_per_pass)
        vectors = base + a[rows, None].to(base) * d1 + b[rows, None].to(base) * d2
        k = len(vectors)
        if points_per_pass == 1:
            state = unflatten(vectors[0], shapes)
            if channels_last:
                state = {n: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
                         for n, t in state.items()}
        else:
            state = _stacked(vectors, shapes)
        total = torch.zeros(k, dtype=torch.float64, device=base.device)
        correct, count, scored = torch.zeros(k, dtype=torch.long, device=base.device), 0, True
        for xb, target in chunks():
            outputs = call(state, xb)[None] if points_per_pass == 1 else batched(state, xb)
            total += torch.stack([loss(o, target, reduction="sum") for o in outputs]).double()
            count += len(target)
            scored = scored and outputs.dim() == 3 and target.dim() == 1 and not target.is_floating_point()
            if scored:
                correct += (outputs.argmax(2) == target).sum(1)
        losses[start:start + k] = (total / max(1, count)).cpu().numpy()
        if scored:
            accs[start:start + k] = (correct.double() / max(1, count)).cpu().numpy()
        if time.monotonic() - reported > 0.25:  # a progress bar's pace, not one call per point
            report(start + k, len(a))
            reported = time.monotonic()
    return losses, accs


# torch's intra-op thread count is process-wide. Side-by-side runs hold it at 1 while their threads
# work; concurrent ones (several requests of one process) share that: the first in saves the count,
# the last out restores it, so no run saves another's 1 and restores it last, and none reads 1 as
# the machine's width. Other threads' torch ops run at 1 meanwhile too: their values stay right,
# but a reduction's rounding may differ from one at full width (measured: 1 ulp in float32 on a
# Hessian-vector product). The web app's job processes run torch at one thread by default: never
# side by side.
_SINGLE = threading.Lock()
_single = {"runs": 0, "saved": 0}


def intra_op_threads() -> int:
    """torch's intra-op thread count as the process set it (not the 1 side-by-side runs hold meanwhile)."""
    with _SINGLE:
        return _single["saved"] if _single["runs"] else torch.get_num_threads()


@contextmanager
def _single_threaded() -> Iterator[None]:
    """torch single-threaded inside (see _SINGLE: counted, so concurrent runs restore the count once)."""
    with _SINGLE:
        if _single["runs"] == 0:
            _single["saved"] = torch.get_num_threads()
            torch.set_num_threads(1)
        _single["runs"] += 1
    try:
        yield
    finally:
        with _SINGLE:
            _single["runs"] -= 1
            if _single["runs"] == 0:
                torch.set_num_threads(_single["saved"])


def _side_by_side(count: int, run: Callable[[int, torch.Tensor, Callable[[int, int], None]],
                                            tuple[np.ndarray, np.ndarray]],
                  progress: Callable[[int, int], None] | None,
                  workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``run(part, indices, report)`` over ``count`` points shared out to ``workers`` threads
    (default: one per intra-op thread; ``part`` numbers them from 0), each running torch
    single-threaded: small convolutions gain little from torch's intra-op threads and about twice
    as much from running side by side (measured: 2.0 s → 1.0 s for 256 points of SmallCNN on 2
    cores). The intra-op thread count is restored afterwards (``_single_threaded``)."""
    parts = np.array_split(np.arange(count), max(1, min(workers or intra_op_threads(), count)))
    done = [0] * len(parts)
    lock = threading.Lock()

    def one(k: int) -> tuple[np.ndarray, np.ndarray]:
        def report(i: int, _total: int) -> None:
            with lock:
                done[k] = i
                if progress is not None:
                    progress(sum(done), count)

        with torch.inference_mode():
            return run(k, torch.from_numpy(parts[k]), report)

    if len(parts) == 1:
        results = [one(0)]
    else:
        with _single_threaded(), ThreadPoolExecutor(len(parts)) as pool:
            results = list(pool.map(one, range(len(parts))))
    if progress is not None:
        progress(count, count)
    return np.concatenate([r[0] for r in results]), np.concatenate([r[1] for r in results])


def evaluate_module(model: torch.nn.Module, shapes: list[tuple[str, torch.Size]], base: torch.Tensor,
                    d1: torch.Tensor, d2: torch.Tensor, a: torch.Tensor, b: torch.Tensor, data: Data,
                    loss: Callable = F.cross_entropy,
                    progress: Callable[[int, int], None] | None = None,
                    points_per_pass: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean loss and accuracy of ``model`` at each state base + a[i]·d₁ + b[i]·d₂ on ``data``.

    ``shapes`` lays the flat state vectors out over the model's parameters and floating-point
    buffers (``state_shapes``). Each point's tensors go to ``torch.func.functional_call`` in eval
    mode; ``data`` is (x, y) tensors (run in chunks of MODULE_CHUNK) or an iterable of (x, y)
    batches such as a DataLoader. ``points_per_pass`` > 1 evaluates that many points in one
    forward pass (``torch.func.vmap`` over the stacked states): faster for small dense layers,
    slower for convolutions (``ModelInfo.points_per_pass``). ``loss`` takes (outputs, targets,
    reduction="sum"); the mean is over examples. Accuracy is the share of argmax hits (NaN where
    the outputs are not class scores with integer targets).

    The model is only read: every thread evaluates its own copy in eval mode, since
    functional_call swaps a module's tensors while it runs (two threads on one module, or two
    requests given the same model, would read each other's points). On the CPU with (x, y)
    tensors, the points are shared out to one thread per core, and 4-D weights and images go
    channels-last (oneDNN's fast layout for convolutions and pooling).
    """
    if not 1 <= int(points_per_pass) <= 1024:
        raise InvalidSpec(f"points_per_pass must be 1 to 1024 (got {points_per_pass})", "points_per_pass")
    device = base.device
    cpu = device.type == "cpu"
    channels_last = cpu and points_per_pass == 1
    if channels_last and _tensors(data) and data[0].dim() == 4:  # type: ignore[index]
        data = (data[0].contiguous(memory_format=torch.channels_last), data[1])  # type: ignore[index]
    chunks = _batches(data, device, MODULE_CHUNK.get(device.type, IMAGE_CHUNK))

    def run(model_copy: torch.nn.Module, index: torch.Tensor,
            report: Callable[[int, int], None]) -> tuple[np.ndarray, np.ndarray]:
        return _module_points(model_copy, shapes, base, d1, d2, a[index], b[index], chunks, loss, report,
                              int(points_per_pass), channels_last)

    workers = min(intra_op_threads(), len(a))
    if cpu and _tensors(data) and workers > 1:
        models = [copy.deepcopy(model).eval() for _ in range(workers)]
        return _side_by_side(len(a), lambda k, index, report: run(models[k], index, report), progress, workers)
    with torch.inference_mode():
        return run(copy.deepcopy(model).eval(), torch.arange(len(a)), progress or (lambda i, n: None))


def evaluate_points(train_spec: TrainSpec, base: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
                    a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cross-entropy and accuracy of the spec's model at each state base + a[i]·d₁ + b[i]·d₂
    (``evaluate_module`` on a model built once, on the data's device, as many points a pass as the
    model's registry row says: bench landscape measures vmap's batched points faster for the MLP's
    small matmuls and slower for convolutions, which vmap makes grouped)."""
    model = train_spec.build(0).to(x.device)
    return evaluate_module(model, state_shapes(model), base, d1, d2, a, b, (x, y), F.cross_entropy, progress,
                           MODELS[train_spec.model].points_per_pass)


IMAGE_CHUNK = 512  # images per pass: a chunk's activations (1 MB each) stay in cache between ops


def _cnn_affine(skip: bool) -> Callable:
    """SmallCNN over points base + a·d₁ + b·d₂, in channels_last (max-pool there is 6× faster).

    conv1 is linear in its weights and its input is shared, so conv(x, W₀ + a·D₁ + b·D₂) is
    conv(x, W₀) + a·conv(x, D₁) + b·conv(x, D₂): three convolutions for the whole plane. Pooling
    before the ReLU gives the same values (ReLU is monotone) on a quarter of the elements. The
    images go through in chunks of IMAGE_CHUNK, so each chunk's activations stay in cache from
    one op to the next and glibc reuses its buffers instead of mapping fresh pages.
    """

    def evaluate(weights: list[dict[str, torch.Tensor]], a: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                 y: torch.Tensor, progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray]:
        base, d1, d2 = weights
        cl = torch.channels_last
        xs = x.contiguous(memory_format=cl)
        first = [F.conv2d(xs, w["conv1.weight"], w["conv1.bias"], padding=1).contiguous(memory_format=cl)
                 for w in weights]
        chunks = [(slice(s, s + IMAGE_CHUNK), y[s:s + IMAGE_CHUNK]) for s in range(0, len(y), IMAGE_CHUNK)]
        losses, accs = np.empty(len(a)), np.empty(len(a))
        for i, (ai, bi) in enumerate(zip(a.tolist(), b.tolist())):
            w2, b2, fw, fb = (base[name] + ai * d1[name] + bi * d2[name]
                              for name in ("conv2.weight", "conv2.bias", "fc.weight", "fc.bias"))
            total = torch.zeros((), dtype=x.dtype, device=x.device)
            correct = torch.zeros((), dtype=torch.long, device=x.device)
            for part, target in chunks:
                h = torch.add(first[0][part], first[1][part], alpha=ai).add_(first[2][part], alpha=bi).relu_()
                z = F.conv2d(h, w2, b2, padding=1)
                if skip:
                    z = z.add_(h)
                logits = F.linear(F.max_pool2d(z, 2).relu_().flatten(1), fw, fb)
                total += F.cross_entropy(logits, target, reduction="sum")
                correct += (logits.argmax(1) == target).sum()
            losses[i] = total.item() / len(y)
            accs[i] = correct.item() / len(y)
            if progress is not None and i % 16 == 0:
                progress(i, len(a))
        return losses, accs

    return evaluate


# Model-specific evaluators of a plane; models without one fall back to evaluate_points.
AFFINE_EVALUATORS: dict[str, Callable] = {"cnn": _cnn_affine(False), "cnn-skip": _cnn_affine(True)}


def evaluate_affine(train_spec: TrainSpec, base: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
                    a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    progress: Callable[[int, int], None] | None = None,
                    device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at base + a[i]·d₁ + b[i]·d₂ for every i (a line is the case d₂ = 0).

    On the CPU the points are shared out to one thread per core, each running torch
    single-threaded: these small convolutions gain little from torch's intra-op threads, and
    twice as much from running side by side (measured: 2.0 s → 1.0 s for 256 points on 2 cores).
    The intra-op thread count is restored afterwards. ``device`` is "cpu", "cuda" or "auto"
    (the GPU when there is one); on a GPU the points run in one stream, in order.
    """
    target = resolve_device(device)
    base, d1, d2, x, y = (t.to(target) for t in (base, d1, d2, x, y))
    evaluator = AFFINE_EVALUATORS.get(train_spec.model)
    if evaluator is None:
        return evaluate_points(train_spec, base, d1, d2, a, b, x, y, progress)
    shapes = param_shapes(train_spec.build(0))
    weights = [unflatten(v, shapes) for v in (base, d1, d2)]
    if target.type != "cpu":
        with torch.inference_mode():
            return evaluator(weights, a, b, x, y, progress)
    return _side_by_side(len(a), lambda _k, index, report: evaluator(weights, a[index], b[index], x, y, report),
                         progress)


__all__ = [
    "AFFINE_EVALUATORS",
    "DEVICES",
    "IMAGE_CHUNK",
    "MODULE_CHUNK",
    "Data",
    "evaluate_affine",
    "evaluate_module",
    "evaluate_points",
    "resolve_device",
]
