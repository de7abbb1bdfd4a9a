"""The landscapes page's checks, the background job as a plain function, and the weights store."""

import base64
import dataclasses
import importlib

import numpy as np
import pytest
import torch
from dash import no_update

from compute.landscape import VIEWS
from compute.nets import TrainSpec, train
from compute.spectrum import SharpeningSpec, SpectrumSpec, sharpening, spectrum
from dashboard import weights
from dashboard.state import PAGE_LANCZOS, PAGES

from .conftest import call_callback

page = importlib.import_module("dashboard.pages.landscape")


@pytest.fixture
def weights_dir(tmp_path, setenv):
    setenv("WEIGHTS_DIR", str(tmp_path))
    return tmp_path


def test_defaults_make_a_spec():
    checked = page.check({})
    spec = checked.specs["landscape"]
    assert checked.errors == {} and spec.train.model == "mlp" and spec.mode == "plane"
    assert dict(spec.train.optimizer.params)["momentum"] == 0.9


@pytest.mark.parametrize(("raw", "key"), [
    ({"net.epochs": 10_000}, "net.epochs"), ({"landscape.resolution": "many"}, "landscape.resolution"),
    ({"model": "resnet"}, "model"), ({"landscape.lo": 2.0}, "landscape.hi"),
    ({"sgd.nesterov": True, "sgd.momentum": 0.0}, "sgd.nesterov"), ({"bogus": 1}, "bogus"),
    ({"split.test_fraction": 0.9}, "split.test_fraction"),
])
def test_bad_settings_are_named(raw, key):
    checked = page.check(raw)
    assert not checked.ok and not checked.specs and key in checked.errors


def test_the_job_draws_what_it_was_asked(weights_dir):
    state = page.check({"net.epochs": 3, "landscape.resolution": 5, "mode": "pca"}).state
    reports = []
    main, surface, training, text = call_callback(page.draw, reports.append, {"state": state}).values()
    assert "PC1" in main["layout"]["xaxis"]["title"]["text"] and surface["data"][0]["type"] == "surface"
    assert len(training["data"]) == 4 and "test accuracy" in text
    assert any("training MLP" in r[2] for r in reports) and any("points" in r[2] for r in reports)
    assert list(weights_dir.glob("*.safetensors"))


@pytest.mark.parametrize("request_", [None, "x", {"state": {"net.epochs": -1}}])
def test_the_job_refuses_bad_requests(request_):
    out = call_callback(page.draw, lambda _: None, request_)
    assert [out[k] for k in ("main", "surface", "training")] == [no_update] * 3 and out["text"].startswith("Nothing drawn")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the GPU is there: cuda is a good setting")
def test_a_gpu_the_server_lacks_is_a_message(setenv):
    """LANDSCAPE_DEVICE=cuda on a machine without one (an unknown device stops the server at start:
    test_hosting.py)."""
    setenv("LANDSCAPE_DEVICE", "cuda")
    state = page.check({"net.epochs": 1, "landscape.resolution": 5}).state
    out = call_callback(page.draw, lambda _: None, {"state": state})
    assert [out[k] for k in ("main", "surface", "training")] == [no_update] * 3 and "LANDSCAPE_DEVICE" in out["text"]


def test_weights_are_kept_and_read_back_without_pickle(weights_dir):
    spec = TrainSpec(model="mlp", epochs=2)
    first = weights.trained_model(spec)
    files = list(weights_dir.glob("*.safetensors"))
    assert len(files) == 1 and files[0].read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    again = weights.trained_model(spec)
    np.testing.assert_array_equal(first.path, again.path)
    np.testing.assert_array_equal(first.test_acc, train(spec).test_acc)
    files[0].write_bytes(b"damaged")
    np.testing.assert_array_equal(weights.trained_model(spec).path, first.path)  # retrained, not crashed


def test_sharpness_trains_a_and_b_and_draws_both_planes(weights_dir):
    checked = page.check({"mode": "sharpness", "net.epochs": 2, "landscape.resolution": 5,
                          "pair.batch_size": 256})
    state, spec = checked.state, checked.specs["landscape"]
    assert checked.errors == {} and spec.mode == "plane"
    reports = []
    main, pair, _training, text = call_callback(page.draw, reports.append, {"state": state}).values()
    sharp = [spectrum(SpectrumSpec(t, k=1, max_matvecs=PAGE_LANCZOS), train(t))[0].sharpness
             for t in (spec.train, dataclasses.replace(spec.train, batch_size=256))]
    assert main["layout"]["title"]["text"] == (f"1D: from A (α = 0) to B (α = 1)<br><sup>A: batch 64, λmax "
                                               f"{sharp[0]:.4g} · B: batch 256, λmax {sharp[1]:.4g}</sup>")
    assert [a["text"] for a in pair["layout"]["annotations"]] == [f"<b>A: batch 64</b><br>λmax {sharp[0]:.4g}",
                                                                  f"<b>B: batch 256</b><br>λmax {sharp[1]:.4g}"]
    assert "is the sharper minimum" in text and any("λmax of B" in r[2] for r in reports)
    assert pair["data"][0]["zmax"] == pair["data"][1]["zmax"]  # one colour scale for both
    assert len(list(weights_dir.glob("*.safetensors"))) == 2
    assert any("training B" in r[2] for r in reports) and "test accuracy A" in text


def test_three_trains_a_b_and_c_and_draws_the_plane_through_them(weights_dir):
    checked = page.check({"mode": "three", "net.epochs": 2, "landscape.resolution": 5, "pair.batch_size": 256,
                          "pair.seed": 7})
    state, spec = checked.state, checked.specs["landscape"]
    assert checked.errors == {} and (spec.lo, spec.hi) == (-0.5, 1.5)
    reports = []
    main, surface, training, text = call_callback(page.draw, reports.append, {"state": state}).values()
    marks = [t for t in main["data"] if t.get("mode") == "markers+text"]
    assert [(t["text"], t["x"], t["y"]) for t in marks] == [(["A"], [0.0], [0.0]), (["B"], [1.0], [0.0]),
                                                            (["C"], [0.0], [1.0])]
    assert "toward B" in main["layout"]["xaxis"]["title"]["text"] and surface["data"][0]["type"] == "surface"
    assert {t["name"].split(":")[0] for t in training["data"]} == {"A", "B", "C"}
    assert len(list(weights_dir.glob("*.safetensors"))) == 3
    assert any("training C (seed 7" in r[2] for r in reports) and "C 0." in text
    assert "pair.seed=7" in page.to_query(state, page.LANDSCAPE_PAGE)  # the link keeps C's seed


def test_the_page_caps_count_every_training_and_plane():
    assert page.check({"mode": "three", "net.epochs": 200, "dataset": "mnist", "split.train_size": 2000}).ok
    checked = page.check({"mode": "three", "net.epochs": 200, "dataset": "mnist", "split.train_size": 2500})
    assert not checked.ok and "the page trains at most" in checked.errors["split.train_size"]
    checked = page.check({"mode": "sharpness", "landscape.resolution": 101, "dataset": "mnist",
                          "split.train_size": 800})  # one plane would pass: 8.2M
    assert not checked.ok and "evaluates at most" in checked.errors["landscape.resolution"]


def test_landscapes_are_stored_and_redrawn_without_computing(weights_dir, monkeypatch):
    state = page.check({"net.epochs": 2, "landscape.resolution": 5, "mode": "pca"}).state
    first = call_callback(page.draw, lambda _: None, {"state": state})
    stored = list(weights_dir.glob("landscape-*.npz"))
    assert len(stored) == 1
    with np.load(stored[0], allow_pickle=False) as saved:  # plain arrays and strings
        assert saved["train_loss"].shape == (5, 5) and "PCA" in str(saved["description"])

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a stored landscape")

    monkeypatch.setattr(page, "landscape", fail)
    monkeypatch.setattr(page, "train", fail, raising=False)
    again = call_callback(page.draw, lambda _: None, {"state": state})
    assert again["main"] == first["main"]


def test_a_view_opens_on_its_natural_range():
    checked = page.check({"mode": "line"})
    state, spec = checked.state, checked.specs["landscape"]
    assert (spec.lo, spec.hi) == (-0.5, 1.5) == (state["landscape.lo"], state["landscape.hi"])
    spec = page.check({"mode": "line", "landscape.lo": 0.0, "landscape.hi": 1.0}).specs["landscape"]
    assert (spec.lo, spec.hi) == (0.0, 1.0)


def test_a_link_trains_nothing_without_a_click(weights_dir):
    """Opening a link (the first call) or changing a setting trains nothing: the figures wait for
    Train & draw, and after a change the ones on screen are marked out of date."""
    request = {"state": page.check({"net.epochs": 3, "landscape.resolution": 5}).state}
    first = call_callback(page.show_stored, request, triggered=None)
    assert [first[k] for k in ("main", "surface", "training")] == [no_update] * 3 and first["text"].startswith("Press Train & draw: it trains the MLP on digits (8 × 8) for 3 epochs")
    changed = call_callback(page.show_stored, request, triggered=[(page.LandscapeID.STORE, "data")])
    assert [changed[k] for k in ("main", "surface", "training")] == [no_update] * 3 and changed["text"].startswith("Out of date")
    assert list(weights_dir.iterdir()) == [], "nothing was trained or evaluated"
    assert page.WAITING["layout"]["annotations"][0]["text"] == "Press Train & draw"


@pytest.mark.parametrize("mode", ["plane", "sharpness", "three", "hessian", "edge"])
def test_settings_on_disk_draw_at_once_from_disk(weights_dir, monkeypatch, mode):
    request = {"state": page.check({"net.epochs": 2, "landscape.resolution": 5, "mode": mode}).state}
    drawn = call_callback(page.draw, lambda _: None, request)

    def fail(*args, **kwargs):
        raise AssertionError("computed in a web request")

    monkeypatch.setattr(page, "landscape", fail)
    monkeypatch.setattr(page, "between", fail)
    monkeypatch.setattr(page, "through", fail)
    monkeypatch.setattr(page, "spectrum", fail)
    monkeypatch.setattr(page, "sharpening", fail)
    monkeypatch.setattr(weights, "train", fail)
    for triggered in (None, [(page.LandscapeID.STORE, "data")]):  # a link, or a view change
        shown = call_callback(page.show_stored, request, triggered=triggered)
        assert shown == drawn
    other = {"state": page.check({"net.epochs": 3, "landscape.resolution": 7, "mode": mode}).state}
    assert call_callback(page.show_stored, other, triggered=None)["text"].startswith("Press Train & draw")


@pytest.mark.parametrize(("contents", "fragment"), [
    (None, "nothing to read"), ("no comma", "nothing to read"), ("data:x;base64,!!!", "Only base64"),
    ("data:x;base64," + "QUFB" * 300_000, "larger than"),
    ("data:x;base64,UEsDBA==", "not a landscape file"),
])
def test_an_opened_file_that_is_not_a_landscape_gets_a_message(contents, fragment):
    page = importlib.import_module("dashboard.pages.landscape")
    out = call_callback(page.show_file, contents, "x.npz", {"state": {}})
    assert [out[k] for k in ("main", "surface", "training")] == [no_update] * 3 and fragment in out["text"], out["text"]


def test_an_opened_file_draws_the_pages_figures():
    import base64
    import io

    from compute.landscape import LandscapeSpec, landscape

    page = importlib.import_module("dashboard.pages.landscape")
    spec = TrainSpec(model="mlp", epochs=1)
    result = landscape(LandscapeSpec(train=spec, mode="line", resolution=5), train(spec))
    buffer = io.BytesIO()
    np.savez(buffer, mode=np.array("line"), description=np.array(result.description), coords=result.coords,
             train_loss=result.train_loss, test_loss=result.test_loss)
    contents = "data:application/octet-stream;base64," + base64.b64encode(buffer.getvalue()).decode()
    main, surface, training, text = call_callback(page.show_file, contents, "line.npz", {"state": {}}).values()
    assert text.startswith("Showing line.npz: θ(α)") and main["data"][0]["name"] == "train loss"
    assert "holds no training" in str(training) and surface is page.NO_SURFACE


def test_the_hessian_view_draws_the_plane_of_the_top_two_eigenvectors(weights_dir):
    checked = page.check({"mode": "hessian", "net.epochs": 2, "landscape.resolution": 5, "landscape.seed": 3})
    state, spec = checked.state, checked.specs["landscape"]
    assert checked.errors == {} and spec.mode == "hessian" and (spec.lo, spec.hi) == (-1.0, 1.0)
    reports = []
    main, surface, _training, text = call_callback(page.draw, reports.append, {"state": state}).values()
    found, _ = spectrum(SpectrumSpec(spec.train, k=2, seed=3, max_matvecs=PAGE_LANCZOS), train(spec.train))
    assert f"λ₁ = {found.eigenvalues[0]:.4g}" in main["layout"]["xaxis"]["title"]["text"]
    assert f"λ₂ = {found.eigenvalues[1]:.4g}" in main["layout"]["yaxis"]["title"]["text"]
    assert surface["data"][0]["type"] == "surface" and "25 points evaluated" in text
    assert any(r[2].startswith("Lanczos") for r in reports)
    with np.load(next(weights_dir.glob("landscape-*.npz")), allow_pickle=False) as saved:
        np.testing.assert_allclose(saved["eigenvalues"], found.eigenvalues)


def test_the_edge_view_draws_the_sharpness_during_training_against_the_threshold(weights_dir):
    raw = {"mode": "edge", "net.epochs": 2, "sgd.lr": 0.05, "sgd.momentum": 0.0, "curvature.every": 7,
           "curvature.samples": 200, "curvature.trace_samples": 2}
    checked = page.check(raw)
    assert checked.errors == {}
    wanted = checked.specs["sharpening"]
    assert (wanted.every, wanted.samples, wanted.trace_samples) == (7, 200, 2)
    reports = []
    main, hessian, training, text = call_callback(page.draw, reports.append, {"state": checked.state}).values()
    expected, _ = sharpening(wanted)
    line = main["layout"]["shapes"][0]
    assert line["y0"] == line["y1"] == pytest.approx(40.0)  # 2/lr
    assert "2/lr = 40" in main["layout"]["annotations"][0]["text"]
    drawn = np.frombuffer(base64.b64decode(main["data"][0]["y"]["bdata"]), main["data"][0]["y"]["dtype"])
    np.testing.assert_array_equal(drawn, expected.sharpness)
    assert f"to {expected.sharpness[-1]:.4g} at step {expected.steps[-1]}" in text and "2/lr = 40" in text
    assert [t["name"] for t in hessian["data"]] == ["λmax(H)", "trace (Hutchinson, 2 probes)"]
    assert training["layout"]["title"]["text"] == "training"
    assert any("measurements" in r[2] for r in reports)
    again = page.check({**raw, "mode": "plane", "landscape.resolution": 5})  # its training is kept
    stored = weights.trained_model(again.specs["landscape"].train, stored_only=True)
    np.testing.assert_array_equal(stored.path, train(wanted.train).path)


def test_the_edge_views_caps_and_bad_values_name_the_curvature_settings():
    checked = page.check({"mode": "edge", "curvature.every": 1, "curvature.samples": 0})
    assert not checked.ok and "raise every" in checked.errors["curvature.every"]
    checked = page.check({"mode": "edge", "curvature.samples": -5})
    assert not checked.ok and "curvature.samples" in checked.errors
    assert page.check({"mode": "plane", "curvature.every": 1, "curvature.samples": 0}).ok  # not this view's
    assert "SharpeningSpec" not in str(page.check({"mode": "plane"}).specs)
    assert isinstance(page.check({"mode": "edge"}).specs["sharpening"], SharpeningSpec)


@pytest.mark.parametrize("name", list(VIEWS))
def test_every_view_is_on_the_page_and_drawn_or_says_why_not(weights_dir, name):
    """Each row of compute.landscape.VIEWS: in the page's view menu, opening on its range, with
    the models, spec and drawer its row names, drawn; or not on the page, with a reason (and then
    in the CLI: tests/compute/test_cli.py)."""
    view = VIEWS[name]
    choices = PAGES[page.LANDSCAPE_PAGE].choices["mode"]
    if not view.on_page:
        assert name not in choices and name not in page.LANDSCAPE_VIEWS and len(view.not_on_page) > 20
        assert view.in_cli and not page.check({"mode": name}).ok
        return
    assert name in choices and page.LANDSCAPE_VIEWS[name] == view.title
    assert page.mode_range(name) == view.range
    checked = page.check({"mode": name, "net.epochs": 1, "landscape.resolution": 4, "split.train_size": 300,
                          "curvature.samples": 100, "pair.batch_size": 128})
    spec = checked.specs["landscape"]
    assert checked.ok and spec.mode == view.spec_mode and (spec.lo, spec.hi) == view.range
    assert ("sharpening" in checked.specs) == view.sharpening and view.computes in page.DRAW
    reports = []
    main, _surface, training, text = call_callback(page.draw, reports.append, {"state": checked.state}).values()
    assert isinstance(main, dict) and not text.startswith("Nothing drawn"), text
    trainings = {t["name"].split(":")[0] if ":" in t["name"] else "A" for t in training["data"]}
    assert trainings == set("ABC"[:view.models])  # one training figure per model the view trains
    assert any(r[2].startswith("Lanczos") for r in reports) == bool(view.spectrum)
    if view.computes in ("landscape", "three"):
        assert f"{view.points(4)} points evaluated" in text


def test_train_and_draw_runs_the_settings_as_they_are_at_the_click():
    """The request Train & draw's job runs is built from the controls' values at the click (a value
    typed just before it, its box left by the click itself, reached the settings' store after the
    click, and the job trained the value before it); a bad value goes as it is, for the job's message."""
    from dashboard.ids import param_id
    from dashboard.state import default_state

    ids = [{"id": param_id("net", "epochs", page.LANDSCAPE)}, {"id": param_id("net", "seed", page.LANDSCAPE)}]
    chosen = [default_state(page.LANDSCAPE_PAGE)[key] for key in page.CHOSEN]
    request_ = call_callback(page.run_request, 3, [2, 7], *chosen, states_list=[ids])
    assert request_["click"] == 3
    assert request_["state"]["net.epochs"] == 2 and request_["state"]["net.seed"] == 7
    assert "net.epochs=2" in request_["query"]
    bad = call_callback(page.run_request, 4, [-1, 7], *chosen, states_list=[ids])
    out = call_callback(page.draw, lambda _: None, bad)
    assert "epochs" in out["text"] and out["main"] is no_update
