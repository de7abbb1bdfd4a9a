"""The Python API on a model of the user's own: any nn.Module, any loss, a DataLoader or tensors;
the model is never changed; the results equal the page's and the CLI's."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from compute.api import loss_line, loss_plane, model_state, save_landscape
from compute.landscape import LandscapeSpec, landscape
from compute.nets import TrainSpec, load_split, state_shapes, train, unflatten


class Regressor(torch.nn.Module):
    """Not a classifier: a model of the user's own with BatchNorm and an MSE loss."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.out = torch.nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.bn(self.fc(x)))).squeeze(1)


@pytest.fixture
def regressor():
    torch.manual_seed(0)
    model = Regressor()
    model.train()
    x = torch.randn(64, 3)
    model(x)  # running statistics move off their defaults
    return model, x, x.sum(1)


def _mse(outputs, targets, reduction="sum"):
    return torch.nn.functional.mse_loss(outputs, targets, reduction=reduction)


@pytest.mark.parametrize("points_per_pass", [1, 4])
def test_a_plane_of_your_own_model_equals_loading_each_point(regressor, points_per_pass):
    model, x, y = regressor
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = loss_plane(model, _mse, (x, y), resolution=5, seed=1, norm="layer", bias="keep", dir_type="states",
                        points_per_pass=points_per_pass)
    assert model.training  # mode restored
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing changed
    assert result["train_loss"].shape == (5, 5) and np.isnan(result["train_acc"]).all()  # not class scores
    base = model_state(model)
    shapes = [(n, p.shape) for n, p in model.named_parameters()] + \
             [(n, b.shape) for n, b in model.named_buffers() if b.is_floating_point()]
    for i, j in ((0, 0), (3, 1), (2, 2)):
        a, b = float(result["coords"][j]), float(result["coords"][i])
        probe = copy.deepcopy(model).eval()
        state = base + a * torch.from_numpy(result["d1"]) + b * torch.from_numpy(result["d2"])
        probe.load_state_dict(unflatten(state, shapes), strict=False)
        with torch.no_grad():
            expected = torch.nn.functional.mse_loss(probe(x), y).item()
        assert result["train_loss"][i, j] == pytest.approx(expected, rel=1e-5, nan_ok=True)


class TinyConv(torch.nn.Module):
    """A conv net of the user's own: 4-D weights go channels-last and points run side by side."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


@pytest.mark.parametrize(("threads", "points_per_pass"), [(1, 1), (2, 1), (2, 3)])
def test_a_conv_net_on_any_threads_and_passes_equals_loading_each_point(threads, points_per_pass):
    torch.manual_seed(4)
    model = TinyConv().train()
    x, y = torch.randn(300, 2, 6, 6), torch.randint(0, 3, (300,))
    model(x)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        result = loss_plane(model, torch.nn.functional.cross_entropy, (x, y), resolution=4, seed=5, lo=-0.4, hi=0.4,
                            dir_type="states", bias="keep", points_per_pass=points_per_pass)
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before and model.training
    base, shapes = model_state(model), state_shapes(model)
    for i in range(4):
        for j in range(4):
            probe = copy.deepcopy(model).eval()
            state = base + float(result["coords"][j]) * torch.from_numpy(result["d1"]) + \
                float(result["coords"][i]) * torch.from_numpy(result["d2"])
            probe.load_state_dict(unflatten(state, shapes), strict=False)
            with torch.no_grad():
                out = probe(x)
            assert result["train_loss"][i, j] == pytest.approx(torch.nn.functional.cross_entropy(out, y).item(),
                                                               rel=1e-5)
            assert result["train_acc"][i, j] == pytest.approx((out.argmax(1) == y).double().mean().item())


def test_a_dataloader_gives_the_tensors_values(regressor):
    model, x, y = regressor
    loader = DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True, generator=torch.Generator().manual_seed(0))
    with_tensors = loss_plane(model, _mse, (x, y), resolution=3, seed=2)
    with_loader = loss_plane(model, _mse, loader, resolution=3, seed=2)
    np.testing.assert_allclose(with_loader["train_loss"], with_tensors["train_loss"], rtol=1e-5)


def test_the_api_gives_the_pages_plane_for_a_registry_model():
    spec = TrainSpec(model="mlp", epochs=2, batch_size=128)
    trained = train(spec)
    model = spec.build(0)
    model.load_state_dict(unflatten(torch.from_numpy(trained.final), [(n, p.shape) for n, p in model.named_parameters()]))
    split = load_split(spec.dataset)
    ours = loss_plane(model, torch.nn.functional.cross_entropy, (split.x_train, split.y_train), resolution=5,
                      seed=3, norm="filter")
    page = landscape(LandscapeSpec(train=spec, resolution=5, seed=3), trained)
    np.testing.assert_allclose(ours["train_loss"], page.train_loss, rtol=1e-5)
    np.testing.assert_allclose(ours["train_acc"], page.train_acc)


def test_a_line_from_the_start_and_a_file_that_loads_without_pickle(regressor, tmp_path):
    model, x, y = regressor
    torch.manual_seed(5)
    start = Regressor()
    result = loss_line(model, _mse, (x, y), start=start, lo=0.0, hi=1.0, resolution=3)
    start.eval()
    model.eval()
    with torch.no_grad():
        assert result["train_loss"][0] == pytest.approx(torch.nn.functional.mse_loss(start(x), y).item(), rel=1e-5)
        assert result["train_loss"][-1] == pytest.approx(torch.nn.functional.mse_loss(model(x), y).item(), rel=1e-5)
    save_landscape(tmp_path / "line.npz", result)
    with np.load(tmp_path / "line.npz", allow_pickle=False) as saved:
        assert str(saved["mode"]) == "line" and saved["train_loss"].shape == (3,)


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"norm": "spectral"}, "norm must be"), ({"lo": 1.0, "hi": -1.0}, "lo must be below hi"),
    ({"resolution": 1}, "resolution must be"), ({"dir_type": "x"}, "dir_type must be"),
])
def test_bad_arguments_are_refused_with_a_message(regressor, kwargs, fragment):
    from compute import InvalidSpec

    model, x, y = regressor
    with pytest.raises(InvalidSpec, match=fragment):
        loss_plane(model, _mse, (x, y), **kwargs)


def _npz(**arrays) -> bytes:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_a_landscape_file_reads_back_checked(regressor):
    from compute.api import load_landscape

    model, x, y = regressor
    import io

    buffer = io.BytesIO()
    save_landscape(buffer, loss_plane(model, _mse, (x, y), resolution=4))
    result = load_landscape(buffer.getvalue())
    assert result.mode == "plane" and result.train_loss.shape == (4, 4) and "your model" in result.description


@pytest.mark.parametrize(("arrays", "fragment"), [
    ({"mode": np.array("plane"), "coords": np.array([0.0, 1.0]), "train_loss": np.array([object(), 1], dtype=object)},
     "not a landscape file"),  # an object array would need unpickling: refused
    ({"mode": np.array("cube"), "coords": np.array([0.0, 1.0]), "train_loss": np.zeros(2)}, "mode must be"),
    ({"mode": np.array("plane"), "coords": np.array([1.0, 0.0]), "train_loss": np.zeros((2, 2))}, "increasing"),
    ({"mode": np.array("plane"), "coords": np.array([0.0, 1.0]), "train_loss": np.zeros((3, 2))}, "shape"),
    ({"mode": np.array("line"), "coords": np.array([0.0, 1.0])}, "has no train_loss"),
    ({"mode": np.array("line"), "coords": np.array([0.0, np.inf]), "train_loss": np.zeros(2)}, "finite"),
    ({"mode": np.array(3), "coords": np.array([0.0, 1.0]), "train_loss": np.zeros(2)}, "mode must be a string"),
    ({"mode": np.array("line"), "coords": np.array(["a", "b"]), "train_loss": np.zeros(2)}, "must hold numbers"),
    ({"mode": np.array("three"), "coords": np.array([0.0, 1.0]), "train_loss": np.zeros((2, 2)),
      "marks": np.zeros((4, 2))}, "marks must be"),
])
def test_a_bad_landscape_file_gets_a_message(arrays, fragment):
    from compute import InvalidSpec
    from compute.api import load_landscape

    with pytest.raises(InvalidSpec, match=fragment):
        load_landscape(_npz(**arrays))


def test_the_plane_through_three_models_of_your_own(regressor):
    """A at (0, 0), B at (1, 0), C at (0, 1): each mark's loss is that model's loss, and the file
    written reads back with its marks."""
    import io

    from compute import InvalidSpec
    from compute.api import load_landscape, loss_plane_through

    model, x, y = regressor
    second, third = copy.deepcopy(model), copy.deepcopy(model)
    with torch.no_grad():
        for k, other in enumerate((second, third)):
            for p in other.parameters():
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(k)) * 0.3)
            other.bn.running_mean.add_(0.5 * (k + 1))  # the states differ in BatchNorm's statistics too
    result = loss_plane_through(model, second, third, _mse, (x, y), resolution=3, lo=0.0, hi=1.0)
    assert model.training and result["marks"].tolist() == [[0, 0], [1, 0], [0, 1]]
    for (a, b), m in zip(result["marks"], (model, second, third)):
        probe = copy.deepcopy(m).eval()
        with torch.no_grad():
            expected = torch.nn.functional.mse_loss(probe(x), y).item()
        assert result["train_loss"][int(b) * 2, int(a) * 2] == pytest.approx(expected, rel=1e-5)
    buffer = io.BytesIO()
    save_landscape(buffer, result)
    opened = load_landscape(buffer.getvalue())
    assert opened.mode == "three" and opened.marks.tolist() == [[0, 0], [1, 0], [0, 1]]
    with pytest.raises(InvalidSpec, match="one architecture"):
        loss_plane_through(model, torch.nn.Linear(3, 1), third, _mse, (x, y))


def test_not_a_file_and_too_large_get_messages(monkeypatch):
    from compute import InvalidSpec, api

    with pytest.raises(InvalidSpec, match="not a landscape file"):
        api.load_landscape(b"PK\x03\x04 garbage")
    monkeypatch.setattr(api, "MAX_FILE_BYTES", 10)
    with pytest.raises(InvalidSpec, match="at most 10 are read"):
        api.load_landscape(b"x" * 11)
