"""Every normalization against its definition, biases and BatchNorm ignored or kept, "states"
directions, and the models: the article's CNN, widths, ResNets with BatchNorm evaluated as loaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute.landscape import (
    NORMS,
    LandscapeSpec,
    directions,
    evaluate_affine,
    landscape,
    normalize_direction,
    random_direction,
)
from compute.nets import (
    MODELS,
    DatasetSpec,
    TrainSpec,
    buffer_shapes,
    count_parameters,
    evaluate,
    load_split,
    param_shapes,
    state_shapes,
    train,
    unflatten,
)


def _bn_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(2, 5, 3), torch.nn.BatchNorm2d(5), torch.nn.Flatten(),
                               torch.nn.Linear(20, 7))


def _raw_and_weights():
    model = _bn_model()
    weights = {n: p.detach() + 0.1 for n, p in model.named_parameters()}
    raw = random_direction(param_shapes(model), torch.Generator().manual_seed(3))
    return raw, weights


@pytest.mark.parametrize("norm", list(NORMS))
@pytest.mark.parametrize("bias", ["ignore", "keep"])
def test_each_norm_meets_its_definition(norm, bias):
    raw, weights = _raw_and_weights()
    d = normalize_direction(raw, weights, norm, bias)
    for name, w in weights.items():
        r = raw[name]
        if w.dim() <= 1:
            if bias == "ignore":
                assert torch.count_nonzero(d[name]) == 0
            elif norm in ("filter", "layer", "weight"):
                assert torch.equal(d[name], w)
            continue
        if norm == "filter":
            np.testing.assert_allclose(d[name].reshape(len(w), -1).norm(dim=1), w.reshape(len(w), -1).norm(dim=1),
                                       rtol=1e-5)
            # each filter keeps its direction
            cos = torch.nn.functional.cosine_similarity(d[name].reshape(len(w), -1), r.reshape(len(w), -1))
            np.testing.assert_allclose(cos, 1.0, rtol=1e-5)
        elif norm == "layer":
            assert float(d[name].norm()) == pytest.approx(float(w.norm()), rel=1e-5)
            np.testing.assert_allclose(d[name] / r, float(w.norm() / r.norm()), rtol=1e-4)
        elif norm == "weight":
            torch.testing.assert_close(d[name], r * w)
        elif norm == "none":
            assert torch.equal(d[name], r)
    if norm == "model":  # the whole moved vector has θ*'s norm, and one scale for every entry
        moved = [n for n in weights if weights[n].dim() > 1 or bias == "keep"]
        total = torch.sqrt(sum(d[n].double().square().sum() for n in moved))
        theta = torch.sqrt(sum(weights[n].double().square().sum() for n in moved))
        assert float(total) == pytest.approx(float(theta), rel=1e-5)
        scales = {float((d[n] / raw[n]).mean()) for n in moved}
        assert max(scales) == pytest.approx(min(scales), rel=1e-4)
        if bias == "keep":
            assert all(torch.count_nonzero(d[n]) > 0 for n in weights)


def test_an_unknown_norm_is_refused():
    from compute import InvalidSpec

    raw, weights = _raw_and_weights()
    with pytest.raises(InvalidSpec, match="norm must be one of"):
        normalize_direction(raw, weights, "spectral")
    with pytest.raises(InvalidSpec, match="dir_type must be one of"):
        LandscapeSpec(dir_type="grads")


RESNET = TrainSpec(model="resnet8", epochs=1, batch_size=128)


@pytest.fixture(scope="module")
def resnet():
    return train(RESNET)


def test_batchnorm_buffers_are_recorded(resnet):
    model = RESNET.build(0)
    n_buffers = sum(int(np.prod(s)) for _, s in buffer_shapes(model))
    assert resnet.buffers.shape == (2, n_buffers) and n_buffers > 0
    assert not np.array_equal(resnet.buffers[0], resnet.buffers[1])  # the running statistics moved
    assert resnet.final_state.shape == (sum(int(np.prod(s)) for _, s in state_shapes(model)),)


def _loaded(spec: TrainSpec, state: np.ndarray) -> tuple[float, float]:
    """The plain way: load the state into a fresh model (eval mode) and run the training set."""
    model = spec.build(99)
    tensors = unflatten(torch.from_numpy(state), state_shapes(model))
    model.load_state_dict(tensors, strict=False)
    split = load_split(spec.dataset)
    return evaluate(model, split.x_train, split.y_train)


@pytest.mark.parametrize("dir_type", ["weights", "states"])
@pytest.mark.parametrize("bias", ["ignore", "keep"])
def test_resnet_planes_equal_loading_the_state(resnet, dir_type, bias):
    spec = LandscapeSpec(train=RESNET, resolution=3, dir_type=dir_type, bias=bias, norm="filter")
    result = landscape(spec, resnet)
    d1, d2, _ = directions(spec, resnet)
    n_params = resnet.path.shape[1]
    if dir_type == "weights" or bias == "ignore":  # running statistics stay at θ*'s
        assert torch.count_nonzero(d1[n_params:]) == 0
    else:  # Li et al.'s states with biases kept: the direction equals the running statistics
        np.testing.assert_array_equal(d1[n_params:].numpy(), resnet.buffers[1])
    for i, j in ((0, 0), (2, 1), (1, 1)):
        a, b = float(result.coords[j]), float(result.coords[i])
        state = (torch.from_numpy(resnet.final_state) + a * d1 + b * d2).numpy()
        loss, acc = _loaded(RESNET, state)
        # states with biases kept scale the running variance by 1 + a + b: negative (NaN) at a corner
        assert result.train_loss[i, j] == pytest.approx(loss, rel=1e-4, nan_ok=True)
        assert result.train_acc[i, j] == pytest.approx(acc)


def test_the_line_interpolates_the_running_statistics_too(resnet):
    result = landscape(LandscapeSpec(train=RESNET, mode="line", resolution=3, lo=0.0, hi=1.0), resnet)
    assert result.train_loss[0] == pytest.approx(resnet.train_loss[0], rel=1e-4)
    assert result.train_loss[-1] == pytest.approx(resnet.train_loss[-1], rel=1e-4)


def test_the_articles_cnn_has_its_size_and_widths_grow():
    assert count_parameters("cnn-article", (1, 28, 28), 1) == 1_199_882
    for key in MODELS:
        shape = (1, 28, 28)
        assert count_parameters(key, shape, 2) > count_parameters(key, shape, 1)
    spec = TrainSpec(model="cnn", width=3, epochs=1)
    assert dict(param_shapes(spec.build()))["conv1.weight"][0] == 24


def test_models_that_do_not_fit_the_data_are_refused_with_a_reason():
    from compute import InvalidSpec

    with pytest.raises(InvalidSpec, match="needs images"):
        TrainSpec(model="cnn", dataset=DatasetSpec("mnist1d"))
    with pytest.raises(InvalidSpec, match="choose a smaller width"):
        TrainSpec(model="cnn-article", dataset=DatasetSpec("cifar10"), width=16)


def test_wide_cnn_plane_matches_the_generic_evaluator():
    """The CNN's fast plane at width 2 equals evaluating one model per point (the generic path)."""
    from compute import landscape as module

    spec = TrainSpec(model="cnn", epochs=1, batch_size=256, width=2)
    trained = train(spec)
    d1, d2, _ = directions(LandscapeSpec(train=spec), trained)
    base = torch.from_numpy(trained.final_state)
    a, b = torch.tensor([-0.5, 0.0, 0.7]), torch.tensor([0.2, 0.0, -0.4])
    split = load_split(spec.dataset)
    fast = evaluate_affine(spec, base, d1, d2, a, b, split.x_test, split.y_test)
    slow = module.evaluate_points(spec, base, d1, d2, a, b, split.x_test, split.y_test)
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5)


def test_pca_axes_are_in_units_of_the_paths_reach():
    spec = TrainSpec(model="mlp", epochs=4, batch_size=128)
    trained = train(spec)
    result = landscape(LandscapeSpec(train=spec, mode="pca", resolution=5, lo=-1.0, hi=1.0), trained)
    assert result.coords[0] == -1.0 and result.coords[-1] == 1.0  # the axes are the range controls
    assert np.abs(result.path).max() == pytest.approx(0.8, rel=1e-4)  # 1 / 1.25
    np.testing.assert_allclose(result.path[-1], 0.0, atol=1e-6)
