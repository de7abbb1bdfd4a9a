"""What the toy lab's view shows, computed once for the page, its exports and their CLI: the
losses of the visible tab, their cached runs and loss maps, and the data the fit is drawn over."""

from __future__ import annotations

from typing import Any

import numpy as np

from compute import LOSSES, REGRESSION_LOSSES, loss_data, loss_grid, run_trajectories, run_trajectory
from compute.curvature import run_curvature
from compute.data import DataSpec, feature_map
from compute.surfaces import NONE, SURFACES
from dashboard.cache import cached, cached_each
from dashboard.state import Checked, group_values


def shown_losses(state: dict[str, Any]) -> list[str]:
    """The losses the tab shows: the four regression losses side by side, else the chosen one (on a
    surface, only it: it has no loss to vary)."""
    on_surface = state.get("surface", NONE) != NONE
    return list(REGRESSION_LOSSES) if state["tab"] == "all" and not on_surface else [state["loss"]]


def shown_title(state: dict[str, Any], loss: str) -> str:
    """What a run of the view is called: its torch.nn loss, or the surface."""
    surface = state.get("surface", NONE)
    return LOSSES[loss].title if surface == NONE else SURFACES[surface].title


def toy_runs(checked: Checked) -> tuple[dict, dict]:
    """Cached trajectories and loss maps of the losses the tab shows, keyed by torch name (or the
    surface's)."""
    losses = shown_losses(checked.state)
    titles = [shown_title(checked.state, loss) for loss in losses]
    trajectories = cached_each(run_trajectory, run_trajectories, [checked.specs[loss][0] for loss in losses])
    grids = {title: cached(loss_grid, checked.specs[loss][1]) for title, loss in zip(titles, losses, strict=True)}
    return dict(zip(titles, trajectories, strict=True)), grids


def toy_curvature(checked: Checked, runs: dict) -> dict:
    """Per run title: the Hessian along its path and SGD's stable lr at each step (or None)."""
    losses = shown_losses(checked.state)
    return {title: run_curvature(checked.specs[loss][0], runs[title])
            for title, loss in zip([shown_title(checked.state, loss) for loss in losses], losses, strict=True)}


def fit_data(state: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, str, tuple[float, float]]:
    """The data points the fit is drawn over (x the feature the neuron sees), the problem
    (regression or classification) and the feature's map (A, B) from the drawn x: x' = A·x + B."""
    fitted = state["loss"] if state.get("tab") != "all" else REGRESSION_LOSSES[0]
    data = DataSpec(**group_values(state, "data"))
    x, y = loss_data(data, fitted)
    return x, y, LOSSES[fitted].problem, feature_map(data)
