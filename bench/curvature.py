"""bench curvature: a Hessian-vector product's cost against a gradient's, and the top-10 Hessian
eigenvalues of the default CNN over its whole training set.

References measured in the same run: one gradient over the same images (``LossHessian.gradient``),
and the textbook double backward on the module (``torch.autograd.grad`` with create_graph, as
PyHessian computes its products). Ours: ``LossHessian.hvp`` by torch.func, forward-over-reverse
("forward") and double backward ("reverse"). Models: the default CNN trained as the page trains it
(digits, 20 epochs), and the article's CNN (1.2M parameters) on 2,000 MNIST-shaped images. Every
product of ours is checked against the textbook one.

Smoke mode: the default CNN trained for one epoch on 32 digits, 16 images for the article's CNN,
one repetition, the top 2 eigenvalues.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.nn.functional as F

from bench.smoke import sane
from compute.nets import DatasetSpec, TrainSpec, build_model, load_split, train
from compute.spectrum import HVP_CHUNK, HVP_METHODS, LossHessian, top_eigen

T = TypeVar("T")
# (the default CNN as trained, the article's CNN's images, timed repetitions, eigenvalues): full, smoke
SIZES = {False: (TrainSpec(), 2_000, 5, 10),
         True: (TrainSpec(dataset=DatasetSpec(train_size=32, test_size=16), epochs=1), 16, 1, 2)}


def _median(run: Callable[[], T], repeat: int) -> tuple[float, T]:
    """The median time of ``repeat`` runs after a warm-up, and the last run's result."""
    result = run()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return sane("seconds", statistics.median(times)), result


def _autograd_hvp(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, v: torch.Tensor,
                  chunk: int) -> torch.Tensor:
    """PyHessian's way: backward with create_graph, then the gradient of g·v, chunk by chunk."""
    params = [p for p in model.parameters() if p.requires_grad]
    pieces, offset = [], 0
    for p in params:
        pieces.append(v[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    total = [torch.zeros_like(p) for p in params]
    for start in range(0, len(y), chunk):
        loss = F.cross_entropy(model(x[start:start + chunk]), y[start:start + chunk], reduction="sum") / len(y)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        hv = torch.autograd.grad(grads, params, grad_outputs=pieces)
        total = [t + h for t, h in zip(total, hv)]
    return torch.cat([t.reshape(-1) for t in total])


def _costs(name: str, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, repeat: int) -> None:
    model.eval()
    hessian = LossHessian(model, (x, y))
    v = torch.randn(hessian.size, generator=torch.Generator().manual_seed(0))
    gradient, _ = _median(hessian.gradient, repeat)
    rows = [("gradient (reference)", gradient)]
    textbook, reference = _median(lambda: _autograd_hvp(model, x, y, v, HVP_CHUNK["cpu"]), repeat)
    rows.append(("autograd double backward (PyHessian's way)", textbook))
    differences = []
    for method in HVP_METHODS:
        hessian.method = method
        seconds, product = _median(lambda: hessian.hvp(v), repeat)
        rows.append((f"ours, {method}", seconds))
        differences.append(float((product.cpu() - reference).abs().max() / reference.abs().max().clamp_min(1e-12)))
    print(f"\n{name}: {hessian.size:,} parameters, {len(y):,} images, median of {repeat}")
    print("| what | time | ÷ gradient |\n| --- | ---: | ---: |")
    for what, seconds in rows:
        print(f"| {what} | {seconds * 1000:.0f} ms | {seconds / gradient:.2f}× |")
    print(f"ours against the textbook product: max |difference| / max |H·v| {max(differences):.1e}")
    sane(f"{name}: ours against the textbook product", max(differences), high=1e-3)


def main(repeat: int | None = None, smoke: bool = False) -> None:
    spec, article_images, default_repeat, k = SIZES[smoke]  # the default CNN on the digits, as the page trains it
    repeat = repeat or default_repeat
    torch.manual_seed(0)
    start = time.perf_counter()
    trained = train(spec)
    print(f"trained the default CNN in {time.perf_counter() - start:.1f} s ({spec.epochs} epochs)")
    model = spec.build(0)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(trained.final), model.parameters())
    split = load_split(spec.dataset)
    _costs("the default CNN (digits)", model, split.x_train, split.y_train, repeat)

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(article_images, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (article_images,), generator=generator)
    _costs("the article's CNN (MNIST-shaped, synthetic)", build_model("cnn-article", 0, (1, 28, 28)), x, y,
           max(1, repeat // 2))

    hessian = LossHessian(model, (split.x_train, split.y_train))
    gradient, _ = _median(hessian.gradient, repeat)
    start = time.perf_counter()
    found = top_eigen(hessian, k, seed=0)
    seconds = time.perf_counter() - start
    print(f"\ntop-{k} eigenvalues of the default CNN's Hessian over its {len(split.y_train):,} training images: "
          f"{seconds:.2f} s, {found.matvecs} products, converged {found.converged}; "
          f"{seconds / gradient:.0f} gradients' time")
    print("eigenvalues: " + ", ".join(f"{v:.4g}" for v in found.eigenvalues))
    sane("eigenvalue time s", seconds), sane("products", found.matvecs, low=k)
    for value in found.eigenvalues:
        sane("an eigenvalue", float(value), low=-math.inf)
