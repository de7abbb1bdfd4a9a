"""Previews (every stop of a slider on the batched engine) against torch.optim's exact runs."""

import numpy as np
import pytest

from compute import OPTIMIZERS, InvalidSpec, OptimizerSpec, RunSpec, run_trajectory
from compute.batched import previewable
from compute.preview import PreviewSpec, preview_param, run_preview

# every slider of the first five optimizers; of the others lr and their second setting (the engine's
# updates of them are tested setting by setting in test_batched.py)
FIRST = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
CASES = [(optimizer, p.name) for optimizer, row in OPTIMIZERS.items()
         for p in [q for q in row.params if q.kind is not bool][:None if optimizer in FIRST else 2] if row.batched]


def test_an_optimizer_without_a_batched_form_says_release():
    with pytest.raises(InvalidSpec, match="LBFGS has no batched form"):
        PreviewSpec(RunSpec(optimizer=OptimizerSpec("lbfgs")), "lr")


def _exact(run: RunSpec, name: str, value: float) -> RunSpec:
    if name in {p.name for p in OPTIMIZERS[run.optimizer.name].params}:
        values = {**run.optimizer.values, name: value}
        return RunSpec(optimizer=OptimizerSpec(run.optimizer.name, tuple(values.items())),
                       epochs=run.epochs, clip_grad_norm=run.clip_grad_norm)
    return RunSpec(**{**{f: getattr(run, f) for f in ("optimizer", "epochs", "clip_grad_norm")}, name: value})


def _agrees(preview, run: RunSpec, name: str, every: int) -> int:
    """Compare every ``every``-th stop with torch's run at that value; returns how many compared."""
    compared = 0
    for i in range(0, len(preview.values), every):
        traj = run_trajectory(_exact(run, name, float(preview.values[i])))
        if traj.diverged_at is not None or traj.loss.max() > 1e4:
            continue  # exploding runs amplify rounding; both show a divergence
        rows = preview.steps
        np.testing.assert_allclose(preview.weight[:, i], traj.weight[rows], rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(preview.bias[:, i], traj.bias[rows], rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(preview.loss[:, i], traj.loss[rows], rtol=1e-3, atol=1e-5)
        compared += 1
    return compared


@pytest.mark.parametrize(("optimizer", "name"), CASES)
def test_the_preview_of_every_optimizer_slider_agrees_with_torch(optimizer, name):
    run = RunSpec(optimizer=OptimizerSpec(optimizer, (("lr", 0.05),) if name != "lr" else ()), epochs=30)
    preview = run_preview(PreviewSpec(run, name))
    assert len(preview.values) == len(preview_param(run, name).stops)
    assert _agrees(preview, run, name, every=7) >= 3


@pytest.mark.parametrize("name", ["init_weight", "init_bias", "max_norm"])
def test_the_preview_of_the_start_and_clipping_agrees_with_torch(name):
    run = RunSpec(epochs=20, clip_grad_norm=name == "max_norm")
    assert _agrees(run_preview(PreviewSpec(run, name)), run, name, every=9) >= 5


def test_a_diverging_stop_ends_its_path_and_a_refused_one_has_none():
    run = RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.5), ("nesterov", True))), epochs=50)
    preview = run_preview(PreviewSpec(run, "momentum"))
    assert np.isnan(preview.weight[:, 0]).all(), "momentum 0 with nesterov: torch refuses it"
    # lr 0.8 is stable on this loss (λmax ≈ 2.2); weight_decay 2 adds 2 to the curvature: it explodes
    decay = run_preview(PreviewSpec(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.8),)), epochs=200),
                                    "weight_decay"))
    top = decay.weight[:, -1]
    assert np.isnan(top).any() and np.isnan(top[np.argmax(np.isnan(top)):]).all(), "NaN from divergence on"
    assert np.isfinite(decay.weight[:, 0]).all()


def test_long_runs_keep_evenly_spaced_rows_with_both_ends():
    preview = run_preview(PreviewSpec(RunSpec(epochs=1000), "lr"))
    assert preview.steps[0] == 0 and preview.steps[-1] == 1000 and len(preview.steps) <= 301


def test_what_can_be_previewed_is_said():
    assert "lr" in previewable(RunSpec()) and "max_norm" not in previewable(RunSpec())
    with pytest.raises(InvalidSpec, match="cannot be previewed"):
        PreviewSpec(RunSpec(), "noise")


@pytest.mark.parametrize("batch_size", [0, 10])
def test_the_epochs_preview_is_a_prefix_of_one_run_and_agrees_with_torch(batch_size):
    """Every epochs stop from one run (the run at fewer epochs is the first steps of the longest);
    a stop past the 5,000-step cap has no run."""
    run = RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.05), ("momentum", 0.5))), batch_size=batch_size)
    preview = run_preview(PreviewSpec(run, "epochs"))
    per_epoch = run.batches_per_epoch
    assert preview.weight.shape[1] == 1 and len(preview.ends) == len(preview.values)
    for i, value in enumerate(preview.values):
        assert preview.ends[i] == (int(value) * per_epoch if int(value) * per_epoch <= 5000 else -1)
    assert (preview.ends == -1).any() == (batch_size == 10)
    compared = 0
    for i in [0, 1, 5, 20, 40, *np.flatnonzero(preview.ends >= 0)[-1:]]:
        steps, weight, bias, loss = preview.path(i)
        traj = run_trajectory(RunSpec(**{**{f: getattr(run, f) for f in ("optimizer", "batch_size")},
                                         "epochs": int(preview.values[i])}))
        np.testing.assert_array_equal(steps, np.arange(len(traj.weight)))
        np.testing.assert_allclose(weight, traj.weight, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(bias, traj.bias, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(loss, traj.loss, rtol=1e-3, atol=1e-5)
        compared += 1
    assert compared == 6
    if batch_size:  # 2000 epochs of 5 batches: past the cap, no path
        assert len(preview.path(len(preview.values) - 1)[0]) == 0
