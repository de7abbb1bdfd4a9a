"""Trained models and their landscapes: exact grid values, filter normalization, seeds."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from compute.landscape import (
    LandscapeSpec,
    between,
    directions,
    filter_normalized,
    landscape,
    random_direction,
)
from compute.nets import (
    MODELS,
    BasicBlock,
    DatasetSpec,
    TrainSpec,
    build_model,
    evaluate,
    load_split,
    param_shapes,
    train,
    unflatten,
)
from compute.specs import OptimizerSpec

SMALL = TrainSpec(model="cnn", epochs=3, batch_size=128)


@pytest.fixture(scope="module")
def trained():
    return train(SMALL)


def test_digits_ship_offline_and_split_by_seed():
    split = load_split(DatasetSpec())
    assert split.x_train.shape[1:] == (1, 8, 8) and len(split.y_train) + len(split.y_test) == 1797
    assert float(split.x_train.max()) <= 1.0 and set(split.y_test.tolist()) == set(range(10))
    other = load_split(DatasetSpec(split_seed=1))
    assert not torch.equal(split.y_test, other.y_test)


@pytest.mark.parametrize("model", list(MODELS))
def test_training_is_reproducible_and_leaves_global_rng_alone(model):
    state = torch.random.get_rng_state()
    small = DatasetSpec(train_size=512, test_size=64)  # 2 epochs of 4 steps
    spec = TrainSpec(model=model, dataset=small, epochs=2, batch_size=128)
    first, second = train(spec), train(spec)
    assert torch.equal(torch.random.get_rng_state(), state)
    np.testing.assert_array_equal(first.path, second.path)
    np.testing.assert_array_equal(first.buffers, second.buffers)
    if not model.endswith("noskip"):  # deep nets without skips barely train in 2 epochs (Li et al.'s point)
        assert first.train_loss[-1] < first.train_loss[0]
    assert not np.array_equal(train(dataclasses.replace(spec, seed=1)).path, first.path)


def test_filter_normalization_on_several_kinds_of_layer():
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 5, 3), torch.nn.BatchNorm2d(5), torch.nn.Flatten(),
                                torch.nn.Linear(20, 7))
    weights = {n: p.detach() for n, p in model.named_parameters()}
    raw = random_direction(param_shapes(model), torch.Generator().manual_seed(3))
    for bias in ("ignore", "keep"):
        d = filter_normalized(raw, weights, bias)
        for name, w in weights.items():
            if w.dim() > 1:
                np.testing.assert_allclose(d[name].reshape(len(w), -1).norm(dim=1).numpy(),
                                           w.reshape(len(w), -1).norm(dim=1).numpy(), rtol=1e-5)
            elif bias == "ignore":
                assert torch.count_nonzero(d[name]) == 0
            else:
                assert torch.equal(d[name], w)


def _loss_by_loading(spec: TrainSpec, vector: np.ndarray, dtype=torch.float32) -> tuple[float, float]:
    """The plain way: load the parameters into a fresh model and run the training set through it."""
    model = build_model(spec.model, 123).to(dtype)
    shapes = param_shapes(model)
    model.load_state_dict({k: v.to(dtype) for k, v in unflatten(torch.from_numpy(vector), shapes).items()})
    split = load_split(spec.dataset)
    return evaluate(model, split.x_train.to(dtype), split.y_train)


@pytest.mark.parametrize("mode", ["plane", "pca"])
def test_grid_values_equal_loading_the_parameters(trained, mode):
    spec = LandscapeSpec(train=SMALL, mode=mode, resolution=7)
    result = landscape(spec, trained)
    d1, d2, _ = directions(spec, trained)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 7, size=(5, 2)):
        a, b = float(result.coords[j]), float(result.coords[i])
        vector = (torch.from_numpy(trained.final) + a * d1 + b * d2).numpy()
        loss, acc = _loss_by_loading(SMALL, vector)
        assert result.train_loss[i, j] == pytest.approx(loss, rel=1e-5)
        assert result.train_acc[i, j] == pytest.approx(acc)
        loss64, _ = _loss_by_loading(SMALL, vector.astype(np.float64), torch.float64)
        assert result.train_loss[i, j] == pytest.approx(loss64, rel=1e-4)


def test_line_runs_from_the_initial_to_the_trained_weights(trained):
    result = landscape(LandscapeSpec(train=SMALL, mode="line", resolution=5, lo=0.0, hi=1.0), trained)
    assert result.train_loss[0] == pytest.approx(trained.train_loss[0], rel=1e-5)
    assert result.train_loss[-1] == pytest.approx(trained.train_loss[-1], rel=1e-5)
    assert result.test_acc[-1] == pytest.approx(trained.test_acc[-1])


def test_same_seed_same_surface_and_nothing_is_modified(trained):
    before = copy.deepcopy(trained.path)
    spec = LandscapeSpec(train=SMALL, resolution=5, seed=7)
    first, second = landscape(spec, trained), landscape(spec, trained)
    np.testing.assert_array_equal(first.train_loss, second.train_loss)
    np.testing.assert_array_equal(trained.path, before)
    other = landscape(LandscapeSpec(train=SMALL, resolution=5, seed=8), trained)
    assert not np.array_equal(first.train_loss, other.train_loss)
    assert first.train_loss[2, 2] == pytest.approx(trained.train_loss[-1], rel=1e-5)  # the centre is θ*


def test_pca_directions_are_the_principal_axes_of_the_path(trained):
    """Against numpy's eigendecomposition of the path's Gram matrix G = ΔΔᵀ, Δ the parameters after
    each epoch minus the final ones: the ratios are G's top eigenvalues over their sum, d₁ and d₂ the
    unit axes Δᵀu/√λ times 1.25 × the path's largest coordinate, the path its projections Δ·v."""
    spec = LandscapeSpec(train=SMALL, mode="pca", resolution=5)
    result = landscape(spec, trained)
    d1, d2, _ = directions(spec, trained)
    deltas = trained.path.astype(np.float64) - trained.final.astype(np.float64)
    eigenvalues, vectors = np.linalg.eigh(deltas @ deltas.T)  # ascending
    top, u = eigenvalues[::-1][:2], vectors[:, ::-1][:, :2]
    np.testing.assert_allclose(result.explained, top / eigenvalues.sum(), rtol=1e-6)
    axes = deltas.T @ u / np.sqrt(top)  # (P, 2), unit columns
    coords = deltas @ axes
    reach = 1.25 * np.abs(coords).max()
    for k, direction in enumerate((d1, d2)):
        d = direction.double().numpy()
        sign = np.sign(d @ axes[:, k])  # an eigenvector's sign is arbitrary
        assert sign != 0
        np.testing.assert_allclose(d, sign * reach * axes[:, k], rtol=1e-4, atol=1e-6 * reach)
        np.testing.assert_allclose(result.path[:, k], sign * coords[:, k] / reach, atol=1e-6)


def test_the_skip_adds_the_blocks_input_before_its_relu():
    """The CNN and the CNN + skip from one seed share their weights; by hand with torch.nn.functional,
    h = relu(conv1(x)), z = conv2(h): the CNN is fc(pool(relu(z))), the skip's fc(pool(relu(z + h))).
    ResNet's identity block with the skip is relu(the no-skip block's conv-BN output + x)."""
    fn = torch.nn.functional
    plain, skip = build_model("cnn", 5), build_model("cnn-skip", 5)
    w = plain.state_dict()
    assert all(torch.equal(v, w[k]) for k, v in skip.state_dict().items()) and skip.state_dict().keys() == w.keys()
    x = load_split(DatasetSpec()).x_train[:32]
    h = fn.relu(fn.conv2d(x, w["conv1.weight"], w["conv1.bias"], padding=1))
    z = fn.conv2d(h, w["conv2.weight"], w["conv2.bias"], padding=1)

    def head(a):
        return fn.linear(fn.max_pool2d(fn.relu(a), 2).flatten(1), w["fc.weight"], w["fc.bias"])

    with torch.no_grad():
        torch.testing.assert_close(plain(x), head(z))
        torch.testing.assert_close(skip(x), head(z + h))
        assert (head(z + h) - head(z)).abs().max() > 0.1  # the skip matters at these weights

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        block, noshort = BasicBlock(4, 4, 1, True).eval(), BasicBlock(4, 4, 1, False).eval()
        noshort.load_state_dict(block.state_dict())
        x = torch.randn(3, 4, 6, 6)
    seen = {}
    noshort.bn2.register_forward_hook(lambda _m, _i, out: seen.update(out=out))
    with torch.no_grad():
        torch.testing.assert_close(noshort(x), fn.relu(seen["out"]))
        torch.testing.assert_close(block(x), fn.relu(seen["out"] + x))


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"mode": "cube"}, "mode must be"), ({"resolution": 500}, "resolution must be"),
    ({"lo": 1.0, "hi": -1.0}, "lo must be below hi"), ({"bias": "maybe"}, "bias must be"),
])
def test_bad_landscapes_are_rejected(kwargs, fragment):
    from compute import InvalidSpec

    with pytest.raises(InvalidSpec, match=fragment):
        LandscapeSpec(**kwargs)


def test_bad_training_is_rejected():
    from compute import InvalidSpec

    with pytest.raises(InvalidSpec, match="unknown model"):
        TrainSpec(model="resnet")
    with pytest.raises(InvalidSpec, match="epochs must be"):
        TrainSpec(epochs=10_000)
    TrainSpec(optimizer=OptimizerSpec("adam", (("lr", 0.01),)))


def test_between_two_models_runs_from_one_to_the_other(trained):
    other_spec = TrainSpec(model="cnn", epochs=3, batch_size=256)
    other = train(other_spec)
    result = between(
        LandscapeSpec(train=SMALL, mode="line", resolution=5, lo=0.0, hi=1.0), trained, other)
    assert result.train_loss[0] == pytest.approx(trained.train_loss[-1], rel=1e-5)
    assert result.train_loss[-1] == pytest.approx(other.train_loss[-1], rel=1e-5)
    assert result.test_acc[-1] == pytest.approx(other.test_acc[-1])


@pytest.mark.parametrize("model", ["cnn", "cnn-skip", "mlp"])
@pytest.mark.parametrize("chunk", [512, 100])
def test_the_fast_plane_equals_one_model_per_point(model, chunk, monkeypatch):
    from compute import engine as module
    from compute.engine import evaluate_affine, evaluate_points

    monkeypatch.setattr(module, "IMAGE_CHUNK", chunk)  # 360 test images: one chunk, or four uneven ones
    monkeypatch.setattr(module, "MODULE_CHUNK", {"cpu": chunk})
    spec = TrainSpec(model=model, epochs=1, batch_size=256)
    trained = train(spec)
    d1, d2, _ = directions(LandscapeSpec(train=spec), trained)
    base = torch.from_numpy(trained.final)
    a, b = torch.tensor([-1.0, 0.0, 0.3, 0.9]), torch.tensor([0.5, 0.0, -0.7, 0.9])
    split = load_split(spec.dataset)
    fast = evaluate_affine(spec, base, d1, d2, a, b, split.x_test, split.y_test)
    slow = evaluate_points(spec, base, d1, d2, a, b, split.x_test, split.y_test)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5)
    np.testing.assert_allclose(fast[1], slow[1], atol=1e-3)


def test_devices_resolve_and_a_missing_gpu_is_a_clear_error():
    from compute.errors import InvalidSpec
    from compute.landscape import resolve_device

    has_gpu = torch.cuda.is_available()
    assert resolve_device("auto").type == ("cuda" if has_gpu else "cpu")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(InvalidSpec, match="device must be one of"):
        resolve_device("tpu")
    if not has_gpu:
        with pytest.raises(InvalidSpec, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("model", ["cnn", "mlp", "resnet8", "cnn-article"])
def test_the_gpu_plane_equals_the_cpu_plane(model):
    """Every evaluation path on the GPU (the CNN's affine one, the MLP's vmap-batched points,
    functional_call for ResNet-8 with BatchNorm and the article's CNN) gives the CPU's values."""
    from compute.landscape import evaluate_affine

    spec = TrainSpec(model=model, epochs=1, batch_size=256)
    trained = train(spec)
    d1, d2, _ = directions(LandscapeSpec(train=spec, dir_type="states"), trained)
    base = torch.from_numpy(trained.final_state)
    a, b = torch.tensor([-1.0, 0.0, 0.3]), torch.tensor([0.5, 0.0, -0.7])
    split = load_split(spec.dataset)
    cpu = evaluate_affine(spec, base, d1, d2, a, b, split.x_train, split.y_train, device="cpu")
    gpu = evaluate_affine(spec, base, d1, d2, a, b, split.x_train, split.y_train, device="cuda")
    np.testing.assert_allclose(gpu[0], cpu[0], rtol=1e-4)
    np.testing.assert_allclose(gpu[1], cpu[1], atol=2e-3)


@pytest.mark.parametrize("mode", ["line", "plane", "three"])
def test_a_plan_travels_as_safetensors_and_reads_back_checked(mode):
    """What a helper worker gets (dashboard/spread.py): the plan's tensors and JSON metadata, never a
    pickle; read back, its blocks give the values of the plan they came from."""
    from safetensors.torch import load, save

    from compute import InvalidSpec
    from compute.landscape import Plan, evaluate_block, plan, plan_data, plan_line, plan_through

    spec = LandscapeSpec(train=TrainSpec(model="mlp", epochs=1), resolution=5)
    trained = train(spec.train)
    if mode == "line":
        planned = plan_line(spec, trained.initial_state, trained.final_state, "a line")
    elif mode == "three":
        planned = plan_through(spec, trained.initial_state, trained.final_state, trained.path[1])
    else:
        planned = plan(spec, trained)
    tensors, metadata = planned.to_tensors()
    again = Plan.from_tensors(load(save(tensors)), metadata)
    assert again.spec == planned.spec and again.sets == planned.sets
    data = plan_data(planned)
    rows = np.array([0, 3, 4])
    for name in planned.sets:
        np.testing.assert_array_equal(evaluate_block(again, name, rows, data)[0],
                                      evaluate_block(planned, name, rows, data)[0])
    with pytest.raises(InvalidSpec, match="not a landscape"):
        Plan.from_tensors(tensors, {**metadata, "spec": "{}"})
    with pytest.raises(InvalidSpec, match="not a landscape plan"):
        Plan.from_tensors({k: v for k, v in tensors.items() if k != "d2"}, metadata)
