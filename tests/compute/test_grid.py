"""Loss maps against the torch.nn loss evaluated point by point."""

import numpy as np
import pytest
import torch

from compute import LOSSES, DataSpec, GridSpec, LossSpec, grid_axes, loss_data, loss_grid, toy_data

LOSS_PARAMS = {"mse": {}, "l1": {}, "huber": {"delta": 0.5}, "smoothl1": {"beta": 2.0}, "bce": {}}


def point_loss(loss_fn, x, y, w, b, dtype=torch.float32):
    X = torch.tensor(x, dtype=dtype)
    Y = torch.tensor(y, dtype=dtype)
    return loss_fn(torch.tensor(w, dtype=dtype) * X + torch.tensor(b, dtype=dtype), Y).item()


@pytest.mark.parametrize("loss", list(LOSSES))
def test_grid_equals_pointwise_torch_loss(loss):
    params = LOSS_PARAMS[loss]
    data = DataSpec(n=40, noise=0.5, seed=3)
    spec = GridSpec(data=data, loss=LossSpec(loss, tuple(params.items())), b_min=-4, b_max=6,
                    w_min=-3, w_max=7, resolution=37)
    grid = loss_grid(spec)
    x, y = loss_data(data, loss)
    loss_fn = LOSSES[loss].torch_cls(**params)
    assert grid.loss.shape == (37, 37) and grid.loss.dtype == np.float32
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 37, size=(60, 2)):
        w, b = float(grid.weights[i]), float(grid.biases[j])
        expected32 = point_loss(loss_fn, x, y, w, b)
        expected64 = point_loss(loss_fn, x, y, w, b, torch.float64)
        assert grid.loss[i, j] == pytest.approx(expected32, rel=2e-6, abs=1e-6)
        assert grid.loss[i, j] == pytest.approx(expected64, rel=1e-5, abs=1e-5)


def test_axes_cover_the_extent():
    biases, weights = grid_axes(GridSpec(b_min=-1, b_max=2, w_min=3, w_max=5, resolution=7))
    assert biases[0] == -1 and biases[-1] == 2 and len(biases) == 7
    assert weights[0] == 3 and weights[-1] == 5


def test_large_grid_is_chunked_and_still_exact():
    """A grid bigger than one chunk gives the same rows as small grids computed alone."""
    data = DataSpec(n=1000)
    big = loss_grid(GridSpec(data=data, resolution=301))
    assert big.loss.shape == (301, 301)
    x, y = toy_data(data)
    for i in (0, 150, 300):
        w, b = float(big.weights[i]), float(big.biases[i])
        assert big.loss[i, i] == pytest.approx(point_loss(torch.nn.MSELoss(), x, y, w, b), rel=2e-6)
