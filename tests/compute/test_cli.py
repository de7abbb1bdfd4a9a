"""``python -m compute``: the numbers behind the figures, from a terminal."""

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from compute import (
    GridSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
    loss_grid,
    run_trajectory,
)
from compute.cli import main
from compute.landscape import MARK_NAMES, VIEWS


def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_the_trajectory_with_full_precision(capsys):
    code, out, _ = run_cli(capsys, "run", "--epochs", "20", "--momentum", "0.9", "--loss", "huber",
                           "--delta", "0.5")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["step", "weight", "bias", "loss"]
    assert len(rows) == 22
    traj = run_trajectory(RunSpec(loss=LossSpec("huber", (("delta", 0.5),)), epochs=20,
                                  optimizer=OptimizerSpec("sgd", (("momentum", 0.9),))))
    for k, row in enumerate(rows[1:]):
        assert row[0] == str(k)
        assert row[1:] == [repr(float(traj.weight[k])), repr(float(traj.bias[k])), repr(float(traj.loss[k]))]
        assert np.float32(float(row[3])) == traj.loss[k]  # round-trips exactly


def test_default_run_first_row_is_the_start(capsys):
    _, out, _ = run_cli(capsys, "run")
    lines = out.splitlines()
    assert lines[1] == "0,6.0,-3.0,53.078269958496094"
    assert len(lines) == 102


def test_json_format(capsys):
    code, out, _ = run_cli(capsys, "run", "--epochs", "3", "--format", "json", "--nesterov", "--momentum", "0.5")
    doc = json.loads(out)
    assert code == 0 and [r["step"] for r in doc["rows"]] == [0, 1, 2, 3]
    assert dict(doc["spec"]["optimizer"]["params"])["nesterov"] is True


def test_divergence_is_reported(capsys):
    code, out, err = run_cli(capsys, "run", "--lr", "3", "--epochs", "100")
    assert code == 0 and "diverged at step" in err
    assert out.splitlines()[-1].split(",")[-1] in {"inf", "nan"}


@pytest.mark.parametrize("args", [
    ["run", "--lr", "abc"], ["run", "--lr", "-1"], ["run", "--epochs", "1e9"], ["run", "--bogus"],
    ["run", "--nesterov"], ["run", "--loss", "hinge"], ["grid", "--resolution", "100000"],
    ["run", "--noise", "nan"], ["grid", "--b-min", "5", "--b-max", "1"], ["run", "--n", "2.5"],
])
def test_bad_options_give_one_line_and_exit_2(capsys, args):
    with pytest.raises(SystemExit) as stop:
        raise SystemExit(main(args))
    _, err = capsys.readouterr()
    assert stop.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_grid_csv_and_npy(capsys, tmp_path):
    spec = GridSpec(loss=LossSpec("l1"), resolution=5)
    expected = loss_grid(spec)
    code, out, _ = run_cli(capsys, "grid", "--loss", "l1", "--resolution", "5")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["bias", "weight", "loss"] and len(rows) == 26
    assert float(rows[1 + 5 * 2 + 3][2]) == float(expected.loss[2, 3])
    target = tmp_path / "map.npy"
    assert run_cli(capsys, "grid", "--loss", "l1", "--resolution", "5", "--out", str(target))[0] == 0
    np.testing.assert_array_equal(np.load(target), expected.loss)


def test_module_entry_point():
    # both at once: each is mostly Python importing torch
    started = [subprocess.Popen([sys.executable, "-m", "compute", "run", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for args in (["--epochs", "2"], ["--lr", "x"])]
    (out, _), (_, err) = (p.communicate(timeout=300) for p in started)
    assert started[0].returncode == 0 and out.startswith("step,weight,bias,loss\n")
    assert started[1].returncode == 2 and err.count("\n") == 1


def test_sweep_writes_the_map(capsys, tmp_path):
    from compute.sweep import SweepAxis, SweepSpec, run_sweep

    code, out, _ = run_cli(capsys, "sweep", "--x", "lr:0.01:2:6:log", "--y", "momentum:0:0.9:3", "--epochs", "30")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["lr", "momentum", "final_loss", "diverged", "start_loss"] and len(rows) == 19
    expected = run_sweep(SweepSpec(run=RunSpec(epochs=30), x=SweepAxis("lr", 0.01, 2, 6, True),
                                   y=SweepAxis("momentum", 0, 0.9, 3)))
    values = np.array([float(r[2]) for r in rows[1:]]).reshape(3, 6)
    np.testing.assert_array_equal(values, expected.value)
    assert [r[3] == "true" for r in rows[1:]] == list((expected.diverged_at >= 0).ravel())
    np.testing.assert_array_equal(np.array([float(r[4]) for r in rows[1:]]).reshape(3, 6), expected.start)
    target = tmp_path / "sweep.csv"
    assert run_cli(capsys, "sweep", "--optimizer", "adam", "--x", "lr:0.001:1:4:log", "--y", "beta1:0:0.9:2",
                   "--measure", "steps_to_tol", "--out", str(target))[0] == 0
    assert target.read_text().startswith("lr,beta1,steps_to_tol,diverged,start_loss\n")


@pytest.mark.parametrize("args", [
    ["sweep", "--x", "lr:0:1:10:log"], ["sweep", "--x", "bogus"], ["sweep", "--x", "nesterov:0:1:3"],
    ["sweep", "--measure", "accuracy"], ["sweep", "--nesterov", "--momentum", "0.5"],
    ["sweep", "--x", "lr:0.1:1:300", "--y", "momentum:0:0.9:300", "--epochs", "2000"],
])
def test_bad_sweeps_exit_2(capsys, args):
    with pytest.raises(SystemExit) as stop:
        raise SystemExit(main(args))
    assert stop.value.code == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1


def test_landscape_writes_the_grid_axes_and_description(capsys, tmp_path):
    target = tmp_path / "plane.npz"
    code = main(["landscape", "--model", "mlp", "--mode", "plane", "--resolution", "5", "--epochs", "2",
                 "--range", "-0.5", "0.5", "--seed", "3", "--out", str(target)])
    assert code == 0
    with np.load(target) as saved:  # arrays and strings only: no pickle
        assert saved["train_loss"].shape == (5, 5) and saved["coords"][0] == -0.5
        assert "filter-normalized" in str(saved["description"]) and '"seed": 3' in str(saved["spec"])
    assert "training" in capsys.readouterr().err  # the progress bars


def test_a_plane_through_three_models_and_the_line_between_two(capsys, tmp_path):
    """--mode three trains A, B (--b) and C (--c) and writes the plane through them, the models
    marked; each mark's loss is that model's own loss on the training set."""
    from compute.nets import DatasetSpec, TrainSpec, evaluate, load_split, train, unflatten

    target = tmp_path / "three.npz"
    assert main(["landscape", "--model", "mlp", "--mode", "three", "--b", "batch_size=256", "--c", "seed=1",
                 "--epochs", "2", "--resolution", "5", "--range", "0", "1", "--out", str(target)]) == 0
    err = capsys.readouterr().err
    assert "training B" in err and "training C" in err
    split = load_split(DatasetSpec("digits"))
    with np.load(target) as saved:
        assert str(saved["mode"]) == "three" and saved["marks"].tolist() == [[0, 0], [1, 0], [0, 1]]
        spec = json.loads(str(saved["spec"]))
        assert spec["model_b"]["batch_size"] == 256 and spec["model_c"]["seed"] == 1
        for (a, b), changes in zip(saved["marks"], ({}, {"batch_size": 256}, {"seed": 1})):
            trained = train(TrainSpec(model="mlp", epochs=2, **changes))
            model = TrainSpec(model="mlp").build(0)
            model.load_state_dict(unflatten(torch.from_numpy(trained.final),
                                            [(n, p.shape) for n, p in model.named_parameters()]))
            expected, _ = evaluate(model, split.x_train, split.y_train)
            assert saved["train_loss"][int(b) * 4, int(a) * 4] == pytest.approx(expected, rel=1e-5)
    assert main(["landscape", "--model", "mlp", "--mode", "between", "--b", "batch_size=256", "--epochs", "2",
                 "--resolution", "5", "--out", str(tmp_path / "line.npz")]) == 0
    with np.load(tmp_path / "line.npz") as saved:
        assert str(saved["mode"]) == "line" and saved["test_loss"].shape == (5,)
        assert "A and B" in str(saved["description"])


@pytest.mark.parametrize("args", [["landscape", "--epochs", "0", "--out", "x.npz"],
                                  ["landscape", "--resolution", "1000", "--out", "x.npz"],
                                  ["landscape", "--range", "1", "-1", "--epochs", "1", "--out", "x.npz"],
                                  ["landscape", "--mode", "three", "--b", "batch_size=32", "--out", "x.npz"],
                                  ["landscape", "--mode", "between", "--b", "lr=3", "--out", "x.npz"],
                                  ["landscape", "--mode", "between", "--b", "batch_size=0", "--out", "x.npz"]])
def test_bad_landscapes_exit_2(capsys, args):
    assert main(args) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_landscape_on_a_missing_gpu_exits_2_before_training(capsys, tmp_path):
    assert main(["landscape", "--device", "cuda", "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "training" not in err


def test_landscape_help_states_the_defaults_the_command_uses(capsys):
    """The networks' SGD has momentum 0.9 (TRAIN_OPTIMIZER), not the registry's 0: help says so."""
    with pytest.raises(SystemExit):
        main(["landscape", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default sgd 0.9, rmsprop 0.0" in text and "default sgd 0.1," in text
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "default sgd 0.0, rmsprop 0.0" in " ".join(capsys.readouterr().out.split())


def test_preview_prints_the_batched_run_at_every_stop(capsys):
    from compute.preview import PreviewSpec, run_preview

    code, out, _ = run_cli(capsys, "preview", "--name", "momentum", "--epochs", "5")
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = run_preview(PreviewSpec(RunSpec(epochs=5), "momentum"))
    assert code == 0 and len(rows) == len(expected.values) * len(expected.steps)
    last = rows[-1]
    assert float(last["value"]) == expected.values[-1] and float(last["weight"]) == float(expected.weight[-1, -1])
    code, _, err = run_cli(capsys, "preview", "--name", "noise")
    assert code == 2 and "cannot be previewed" in err


def test_landscape_on_mnist_files_with_norm_width_and_subsets(capsys, tmp_path, monkeypatch):
    from tests.compute.test_datasets import write_idx_set

    monkeypatch.delenv("DATA_DIR", raising=False)
    write_idx_set(tmp_path / "data" / "mnist", n_train=40, n_test=10)
    target = tmp_path / "mnist.npz"
    code = main(["landscape", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--model", "cnn-article",
                 "--width", "1", "--train-size", "20", "--epochs", "1", "--batch-size", "10", "--resolution", "3",
                 "--norm", "model", "--range", "-20", "20", "--out", str(target)])
    assert code == 0, capsys.readouterr().err
    with np.load(target) as saved:
        spec = json.loads(str(saved["spec"]))
        assert spec["norm"] == "model" and spec["train"]["dataset"]["name"] == "mnist"
        assert spec["train"]["dataset"]["train_size"] == 20 and saved["coords"][0] == -20.0
        assert "model-normalized" in str(saved["description"])


def test_a_missing_data_file_is_one_line_exit_2_and_writes_nothing(capsys, tmp_path, monkeypatch):
    from tests.compute.test_datasets import write_idx_set

    write_idx_set(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
    target = tmp_path / "x.npz"
    code = main(["landscape", "--dataset", "mnist", "--data-dir", str(tmp_path), "--model", "mlp",
                 "--epochs", "1", "--out", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    # the participant's sentence, then, for the operator, the data folder and the command that fills it
    assert err.startswith("python -m compute landscape: error: "
                          "mnist/train-labels-idx1-ubyte(.gz) is missing from the data folder. ")
    assert f"Data folder: {tmp_path};" in err
    assert err.rstrip().endswith(f"python -m compute fetch-data --dataset mnist --data-dir {tmp_path}")
    assert "training" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist"]


def test_a_data_folder_given_relative_is_shown_absolute_and_quoted(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "my data"
    (folder / "mnist").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    code = main(["landscape", "--dataset", "mnist", "--data-dir", "my data", "--model", "mlp", "--epochs", "1",
                 "--out", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "error: mnist/train-images-idx3-ubyte(.gz) is missing from the data folder." in err
    assert err.rstrip().endswith(f"--dataset mnist --data-dir '{folder}'")


def test_an_interrupted_landscape_resumes_with_only_the_missing_points(capsys, tmp_path, monkeypatch):
    """Interrupted after two blocks, the same command again computes only the other points and
    writes what one uninterrupted run writes."""
    from compute import landscape as module

    args = ["landscape", "--model", "cnn", "--mode", "plane", "--resolution", "9", "--epochs", "2",
            "--seed", "4", "--out"]
    assert main([*args, str(tmp_path / "whole.npz")]) == 0
    monkeypatch.setattr(module, "BLOCK", 20)
    real, evaluated = module.evaluate_affine, []

    def interrupted(*a, **k):
        if len(evaluated) == 2:
            raise KeyboardInterrupt
        evaluated.append(len(a[4]))
        return real(*a, **k)

    target = tmp_path / "part.npz"
    monkeypatch.setattr(module, "evaluate_affine", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main([*args, str(target)])
    assert not target.exists() and (tmp_path / "part.npz.partial.npz").exists()
    assert evaluated == [20, 20]

    evaluated.clear()
    monkeypatch.setattr(module, "evaluate_affine", lambda *a, **k: (evaluated.append(len(a[4])), real(*a, **k))[1])
    assert main([*args, str(target)]) == 0
    err = capsys.readouterr().err
    assert "resuming: 40 of 81 points" in err and "training: reusing" in err
    assert sum(evaluated) == 81 - 40
    assert not (tmp_path / "part.npz.partial.npz").exists()
    with np.load(target) as part, np.load(tmp_path / "whole.npz") as whole:
        np.testing.assert_allclose(part["train_loss"], whole["train_loss"], rtol=1e-6)
        np.testing.assert_array_equal(part["coords"], whole["coords"])


def test_fetch_data_without_internet_is_one_line(capsys, tmp_path, monkeypatch):
    import urllib.request

    def offline(url):
        raise OSError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    from compute import datasets

    monkeypatch.setattr(datasets.fetch, "__defaults__", (print, offline))
    code = main(["fetch-data", "--dataset", "mnist", "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err
    last = err.splitlines()[-1]
    assert code == 2 and last.startswith("python -m compute fetch-data: error: mnist/train-images-idx3-ubyte.gz "
                                         "could not be downloaded from https://")
    assert last.endswith(f"network is unreachable. Data folder: {tmp_path}")  # not the command just run
    assert list((tmp_path / "mnist").iterdir()) == []


def _landscape_parser():
    from compute.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices["landscape"]


@pytest.mark.parametrize("name", list(VIEWS))
def test_every_view_the_cli_offers_writes_its_landscape_and_the_others_say_why_not(name, capsys, tmp_path):
    """Each row of compute.landscape.VIEWS: in ``landscape --mode`` (trained with the models it
    needs, over its own default range, its points as its row says), or not, with a reason."""
    view = VIEWS[name]
    mode = next(a for a in _landscape_parser()._actions if a.dest == "mode")
    if not view.in_cli:
        assert name not in mode.choices and len(view.not_in_cli) > 20 and view.on_page
        with pytest.raises(SystemExit) as stop:
            main(["landscape", "--mode", name, "--out", str(tmp_path / "x.npz")])
        assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err
        return
    assert name in mode.choices and f"{name}: {view.title}" in " ".join(mode.help.split())
    models = [arg for m, setting in zip(MARK_NAMES[1:view.models], ("batch_size=128", "seed=1"))
              for arg in (f"--{m.lower()}", setting)]
    target = tmp_path / f"{name}.npz"
    assert main(["landscape", "--model", "mlp", "--mode", name, "--epochs", "1", "--train-size", "300",
                 "--resolution", "4", *models, "--out", str(target)]) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert all(f"training {m}" in err for m in MARK_NAMES[1:view.models]) and ("Lanczos" in err) == bool(view.spectrum)
    with np.load(target) as saved:
        assert tuple(saved["coords"][[0, -1]]) == view.range
        assert saved["train_loss"].size == view.points(4) and np.isfinite(saved["train_loss"]).all()
        assert ("test_loss" in saved) == bool(view.lines)
        spec = json.loads(str(saved["spec"]))
        assert spec.get("landscape", spec)["mode"] == view.spec_mode


def test_the_clis_defaults_are_the_specs():
    """Each default of a command is its spec's own (or its Param row's), not typed again."""
    from compute.cli import build_parser
    from compute.landscape import LandscapeSpec
    from compute.nets import TrainSpec
    from compute.sweep import SweepSpec

    land = build_parser().parse_args(["landscape", "--out", "x.npz"])
    spec, train = LandscapeSpec(), TrainSpec()
    assert (land.mode, land.resolution, land.seed, land.norm, land.bias, land.dir_type) == \
        (spec.mode, spec.resolution, spec.seed, spec.norm, spec.bias, spec.dir_type)
    assert (land.model, land.dataset, land.optimizer) == (train.model, train.dataset.name, train.optimizer.name)
    sweep = build_parser().parse_args(["sweep"])
    from compute.cli import parse_axis

    default = SweepSpec()
    assert SweepSpec(x=parse_axis(sweep.x, "x"), y=parse_axis(sweep.y, "y"), measure=sweep.measure) == default
    run = build_parser().parse_args(["run"])
    assert (run.loss, run.optimizer) == (RunSpec().loss.name, RunSpec().optimizer.name)
