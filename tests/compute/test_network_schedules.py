"""Learning-rate schedules on the network trainings: torch's own scheduler in the training loop, the
sharpness's threshold at each step's lr, specs and files without a schedule as before, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute.cli import main
from compute.errors import InvalidSpec
from compute.nets import DatasetSpec, TrainSpec, load_split, train
from compute.optimizers import OPTIMIZERS
from compute.schedules import SCHEDULES, torch_scheduler
from compute.specs import OptimizerSpec, ScheduleSpec
from compute.spectrum import SharpeningSpec, sharpening

SMALL = DatasetSpec("digits", train_size=300, test_size=100)


def plain_loop(spec: TrainSpec) -> np.ndarray:
    """torch's documented loop: optimizer.step() then scheduler.step() (ReduceLROnPlateau: on the loss;
    per_epoch: once an epoch, on the epoch's training loss); the flat parameters after each epoch."""
    split = load_split(spec.dataset)
    model = spec.build()
    model.train()
    optimizer = OPTIMIZERS[spec.optimizer.name].build(model.parameters(), spec.optimizer.values)
    scheduler = torch_scheduler(optimizer, spec.schedule.name, spec.schedule.values, spec.schedule_steps)
    plateau = SCHEDULES[spec.schedule.name].plateau
    generator = torch.Generator().manual_seed(spec.seed)
    n, path = len(split.y_train), []
    for _ in range(spec.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, spec.batch_size):
            index = order[start:start + spec.batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(split.x_train[index]), split.y_train[index])
            loss.backward()
            optimizer.step()
            if not spec.schedule.per_epoch:
                scheduler.step(loss.item()) if plateau else scheduler.step()
        if spec.schedule.per_epoch:
            model.eval()
            with torch.no_grad():
                epoch_loss = torch.nn.functional.cross_entropy(model(split.x_train), split.y_train).item()
            model.train()
            scheduler.step(epoch_loss) if plateau else scheduler.step()
        path.append(torch.nn.utils.parameters_to_vector(model.parameters()).detach().numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("schedule", [
    ScheduleSpec("warmup", (("warmup_steps", 4), ("T_max", 10))),
    ScheduleSpec("onecycle", (("max_lr", 0.3),)),
    ScheduleSpec("step", (("step_size", 1), ("gamma", 0.5), ("per_epoch", True))),
    ScheduleSpec("plateau", (("patience", 0), ("factor", 0.5))),
], ids=lambda s: s.name)
def test_training_steps_torchs_own_scheduler(schedule):
    spec = TrainSpec(model="mlp", dataset=SMALL, epochs=3, batch_size=100, schedule=schedule)
    trained = train(spec)
    np.testing.assert_allclose(trained.path[1:], plain_loop(spec), rtol=0, atol=1e-6)
    unscheduled = train(TrainSpec(model="mlp", dataset=SMALL, epochs=3, batch_size=100))
    assert not np.array_equal(trained.path[-1], unscheduled.path[-1])


def test_a_training_without_a_schedule_keeps_its_key_and_its_files():
    plain = TrainSpec(model="mlp", dataset=SMALL)
    assert "schedule" not in plain.to_dict()  # the key weights were kept under before schedules came
    warm = TrainSpec(model="mlp", dataset=SMALL, schedule=ScheduleSpec("warmup"))
    assert warm.cache_key() != plain.cache_key()
    assert TrainSpec.from_dict(warm.to_dict()) == warm and TrainSpec.from_dict(plain.to_dict()) == plain
    assert warm.schedule_steps == 20 * 5  # 300 images in batches of 64: 5 steps an epoch
    with pytest.raises(InvalidSpec, match="OneCycleLR would be stepped 100 times, past its total_steps 50"):
        TrainSpec(model="mlp", dataset=SMALL, schedule=ScheduleSpec("onecycle", (("total_steps", 50),)))


def test_the_sharpness_threshold_follows_the_schedules_lr():
    """2/lr at the lr of the step after each measurement (a warm-up, then a cosine down to 0: inf there)."""
    schedule = ScheduleSpec("warmup", (("warmup_steps", 6), ("T_max", 6), ("start_factor", 0.25)))
    spec = SharpeningSpec(TrainSpec(model="mlp", dataset=SMALL, epochs=1, batch_size=25,
                                    optimizer=OptimizerSpec("sgd", (("lr", 0.2),)), schedule=schedule),
                          every=3, samples=50)
    result, _ = sharpening(spec)
    optimizer = OPTIMIZERS["sgd"].build([torch.zeros(1)], spec.train.optimizer.values)
    scheduler = torch_scheduler(optimizer, "warmup", schedule.values, 12)
    lrs = [optimizer.param_groups[0]["lr"]]
    for _ in range(12):
        optimizer.step()
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
    expected = [2 / lrs[step] if lrs[step] > 0 else np.inf for step in result.steps]
    np.testing.assert_allclose(result.limits, expected, rtol=1e-12)
    assert result.scheduled and result.threshold == pytest.approx(10.0)  # 2/lr at the optimizer's lr
    again = type(result).from_arrays(result.to_arrays())
    np.testing.assert_array_equal(again.limits, result.limits)
    old = {k: v for k, v in result.to_arrays().items() if k != "thresholds"}  # a file from before schedules
    assert not type(result).from_arrays(old).scheduled


def test_the_cli_trains_networks_with_a_schedule(capsys):
    assert main(["curvature", "--model", "mlp", "--train-size", "300", "--batch-size", "300", "--epochs", "4",
                 "--lr", "0.2", "--every", "2", "--samples", "50", "--schedule", "exponential",
                 "--schedule-gamma", "0.5"]) == 0
    rows = [line.split(",") for line in capsys.readouterr().out.splitlines()[1:]]
    # momentum 0.9 (the networks' default): 3.8/lr, at lr 0.2, then 0.2·0.5², 0.2·0.5⁴
    assert [float(r[-1]) for r in rows] == pytest.approx([3.8 / 0.2, 3.8 / 0.05, 3.8 / 0.0125])
