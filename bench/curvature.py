"""bench curvature: a Hessian-vector product's cost against a gradient's, and the top-10 Hessian
eigenvalues of the default CNN over its whole training set.

References measured in the same run: one gradient over the same images (``LossHessian.gradient``),
and the textbook double backward on the module (``torch.autograd.grad`` with create_graph, as
PyHessian computes its products). Ours: ``LossHessian.hvp`` by torch.func, forward-over-reverse
("forward") and double backward ("reverse"). Models: the default CNN trained as the page trains it
(digits, 20 epochs), and the article's CNN (1.2M parameters) on 2,000 MNIST-shaped images.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from compute.nets import TrainSpec, build_model, load_split, train
from compute.spectrum import HVP_CHUNK, HVP_METHODS, LossHessian, top_eigen

ARTICLE_IMAGES = 2_000


def _median(run: Callable[[], object], repeat: int) -> float:
    run()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    gradient = _median(hessian.gradient, repeat)
    rows = [("gradient (reference)", gradient)]
    rows.append(("autograd double backward (PyHessian's way)",
                 _median(lambda: _autograd_hvp(model, x, y, v, HVP_CHUNK["cpu"]), repeat)))
    for method in HVP_METHODS:
        hessian.method = method
        rows.append((f"ours, {method}", _median(lambda: hessian.hvp(v), repeat)))
    print(f"\n{name}: {hessian.size:,} parameters, {len(y):,} images, median of {repeat}")
    print("| what | time | ÷ gradient |\n| --- | ---: | ---: |")
    for what, seconds in rows:
        print(f"| {what} | {seconds * 1000:.0f} ms | {seconds / gradient:.2f}× |")


def main(repeat: int | None = None) -> None:
    repeat = repeat or 5
    torch.manual_seed(0)
    spec = TrainSpec()  # the default CNN on the digits, as the page trains it
    start = time.perf_counter()
    trained = train(spec)
    print(f"trained the default CNN in {time.perf_counter() - start:.1f} s ({spec.epochs} epochs)")
    model = spec.build(0)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(trained.final), model.parameters())
    split = load_split(spec.dataset)
    _costs("the default CNN (digits)", model, split.x_train, split.y_train, repeat)

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(ARTICLE_IMAGES, 1, 28, 28, generator=generator)
    y = torch.randint(0, 10, (ARTICLE_IMAGES,), generator=generator)
    _costs("the article's CNN (MNIST-shaped, synthetic)", build_model("cnn-article", 0, (1, 28, 28)), x, y,
           max(1, repeat // 2))

    hessian = LossHessian(model, (split.x_train, split.y_train))
    gradient = _median(hessian.gradient, repeat)
    start = time.perf_counter()
    found = top_eigen(hessian, 10, seed=0)
    seconds = time.perf_counter() - start
    print(f"\ntop-10 eigenvalues of the default CNN's Hessian over its {len(split.y_train):,} training images: "
          f"{seconds:.2f} s, {found.matvecs} products, converged {found.converged}; "
          f"{seconds / gradient:.0f} gradients' time")
    print("eigenvalues: " + ", ".join(f"{v:.4g}" for v in found.eigenvalues))
