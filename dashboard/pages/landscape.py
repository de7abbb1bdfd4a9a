"""Loss landscapes of trained networks: 1D interpolation, filter-normalized planes, PCA of the path."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import dash
import numpy as np
from dash import Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from compute import InvalidSpec
from compute.api import load_landscape
from compute.cli import data_hint
from compute.datasets import SOURCES, DataFileError
from compute.landscape import (
    BIAS_MODES,
    DIR_TYPES,
    NORMS,
    VIEWS,
    LandscapeSpec,
    between,
    landscape,
    resolve_device,
    through,
)
from compute.nets import MODELS, Trained
from compute.spectrum import Sharpening, SharpeningSpec, SpectrumSpec, sharpening, spectrum
from dashboard import share
from dashboard.controls import (
    group_controls,
)
from dashboard.figures import (
    make_hessian_figure,
    make_landscape_surface,
    make_line_figure,
    make_placeholder,
    make_plane_figure,
    make_plane_pair_figure,
    make_sharpening_figure,
    make_training_figure,
)
from dashboard.ids import LANDSCAPE, LandscapeID, param_id, shown_messages_id
from dashboard.lessons import opened_view
from dashboard.outputs import updates
from dashboard.panels import (
    URL_SYNC_JS,
    JobIDs,
    graph,
    job_callback,
    labelled_dropdown,
    optimizer_section,
    progress_row,
    register_optimizer_switch,
    register_run_request,
    register_schedule_switch,
    register_settings_check,
    schedule_section,
    section,
    view_header,
)
from dashboard.settings import settings
from dashboard.spread import evaluator
from dashboard.state import LANDSCAPE as LANDSCAPE_PAGE
from dashboard.state import (
    LANDSCAPE_VIEWS,
    OPTIMIZERS,
    PAGE_LANCZOS,
    PAGE_VIEWS,
    PATHS,
    SCALES,
    Checked,
    check_state,
    from_query,
    pair_trainings,
    to_query,
)
from dashboard.weights import (
    NotStored,
    keep_trained,
    landscape_key,
    stored_eigenvalues,
    stored_landscape,
    stored_sharpening,
    trained_model,
)

log = logging.getLogger(__name__)

dash.register_page(__name__, path=PATHS[LANDSCAPE_PAGE], name="Landscapes", title="Descent Lab · landscapes")


def device() -> str:
    """Where the points are evaluated (LANDSCAPE_DEVICE): "auto" (the GPU when torch sees one), "cpu" or "cuda"."""
    return settings().server.LANDSCAPE_DEVICE


def check(raw: Any) -> Checked:
    """The page's settings checked; a valid state's LandscapeSpec is ``specs["landscape"]``."""
    return check_state(raw, LANDSCAPE_PAGE)


def _request(state: dict[str, Any]) -> dict[str, Any]:
    optimizer = state["optimizer"]  # only the chosen optimizer's settings travel in the link
    kept = {k: v for k, v in state.items() if k.split(".")[0] not in OPTIMIZERS or k.startswith(optimizer + ".")}
    return {"state": state, "query": to_query(kept, LANDSCAPE_PAGE)}


def _controls(group: str, state: dict[str, Any]) -> list:
    return group_controls(group, state, page=LANDSCAPE)


def layout(**query: Any) -> html.Div:
    """The page, its settings (and its first landscape) from the URL's query string."""
    state, notes = from_query(opened_view(query, LANDSCAPE_PAGE), LANDSCAPE_PAGE)
    # beside the figures that wait for it, above them (on a phone the controls come after the figures,
    # and the placeholder said "Press Train & draw" with the button a screen or more below)
    buttons = html.Div([html.Button("Train & draw", id=LandscapeID.RUN, n_clicks=0),
                        html.Button("Cancel", id=LandscapeID.CANCEL, n_clicks=0, disabled=True),
                        dcc.Upload(html.Button("Open a file…", title=f"a landscape file (.npz, at most "
                                                                      f"{UPLOAD_MAX_BYTES // 1000:,} KB) from the CLI or "
                                                                      "the Python API: shown with this page's figures"),
                                   id=LandscapeID.UPLOAD, accept=".npz", max_size=UPLOAD_MAX_BYTES, multiple=False)],
                       className="sweep-buttons")
    controls = html.Aside([
        section("Network", [
            labelled_dropdown(LandscapeID.DATASET, state["dataset"], {k: r.title for k, r in SOURCES.items()},
                              "dataset"),
            labelled_dropdown(LandscapeID.MODEL, state["model"], {k: r.title for k, r in MODELS.items()}, "model"),
            *_controls("net", state), *_controls("split", state),
        ], "MNIST, Fashion-MNIST and CIFAR-10 are read from their standard files in the server's data "
           "folder; the digits ship with scikit-learn, MNIST-1D is generated. "
           "Large sets start on a seeded subset (train_size)."),
        optimizer_section(state, LANDSCAPE, LandscapeID.OPTIMIZER),
        schedule_section(state, LANDSCAPE, LandscapeID.SCHEDULE),
        section("Landscape", [
            labelled_dropdown(LandscapeID.MODE, state["mode"], LANDSCAPE_VIEWS, "view"),
            *_controls("landscape", state),
            *_controls("pair", state),
            labelled_dropdown(LandscapeID.NORM, state["norm"], NORMS, "norm"),
            labelled_dropdown(LandscapeID.BIAS, state["bias"], BIAS_MODES, "biases, BN"),
            labelled_dropdown(LandscapeID.DIR_TYPE, state["dir_type"], DIR_TYPES, "dir_type"),
            labelled_dropdown(LandscapeID.LOG, state["scale"], SCALES, "colour scale"),
        ], "Trained weights are kept on disk per setting: changing only the view retrains nothing. "
           "The Hessian's view draws the plane of its top two unit eigenvectors (Lanczos, seeded by seed); "
           "A vs B gives both models' λmax."),
        section("Curvature", _controls("curvature", state),
                "For the view \"sharpness during training\": λmax of the loss's Hessian on a fixed seeded subset "
                "of samples training images, every few optimizer steps, against the optimizer's stability "
                "threshold (2/lr for plain SGD; Adam: λmax(P⁻¹H) against 38/lr at β1 = 0.9). Full-batch "
                "training (batch_size = the training set) shows the edge of stability best."),
    ], className="controls")
    main = html.Main([
        *view_header(notes, LandscapeID.QUERY_NOTE, LandscapeID.LINK, LandscapeID.STATUS, LANDSCAPE_PAGE),
        buttons,
        progress_row(LandscapeID.PROGRESS, LandscapeID.PROGRESS_TEXT),
        html.Div([html.Div([graph(LandscapeID.MAIN, "520px", WAITING), graph(LandscapeID.SURFACE, "520px", WAITING)],
                           className="row"),
                  graph(LandscapeID.TRAINING, "320px", WAITING)],
                 className="deck"),  # presenting, a key flips the rows (assets/descent.js)
        dcc.Store(id=LandscapeID.STORE, data=_request(state)),
        dcc.Store(id=LandscapeID.RUN_REQUEST),
        dcc.Store(id=shown_messages_id(LANDSCAPE), data=[]),
    ], className="view")
    return html.Div([controls, main], className="toy-lab")


register_optimizer_switch(LANDSCAPE, LandscapeID.OPTIMIZER)
register_schedule_switch(LANDSCAPE, LandscapeID.SCHEDULE)


@callback(
    Output(param_id("landscape", "lo", LANDSCAPE), "value"),
    Output(param_id("landscape", "hi", LANDSCAPE), "value"),
    Input(LandscapeID.MODE, "value"),
    prevent_initial_call=True,
)
def mode_range(mode):
    """Each view starts on its natural range (its row's): α from −0.5 to 1.5, planes from −1 to 1,
    the plane through A, B and C from −0.5 to 1.5."""
    return PAGE_VIEWS[mode].range if isinstance(mode, str) and mode in PAGE_VIEWS else (no_update, no_update)


# A large data set starts on a seeded subset, so that the page's first training takes minutes, not hours.
SUBSETS = {"mnist": (10000, 2000), "fashion-mnist": (10000, 2000), "cifar10": (10000, 2000)}


@callback(
    Output(param_id("split", "train_size", LANDSCAPE), "value"),
    Output(param_id("split", "test_size", LANDSCAPE), "value"),
    Input(LandscapeID.DATASET, "value"),
    prevent_initial_call=True,
)
def dataset_subset(dataset):
    """Choosing a data set sets its subset: 10,000 + 2,000 images of the large ones, all of the others."""
    return SUBSETS.get(dataset, (0, 0)) if isinstance(dataset, str) and dataset in SOURCES else (no_update, no_update)


CHOSEN = {"model": LandscapeID.MODEL, "optimizer": LandscapeID.OPTIMIZER, "schedule": LandscapeID.SCHEDULE,
          "mode": LandscapeID.MODE,
          "bias": LandscapeID.BIAS, "scale": LandscapeID.LOG, "dataset": LandscapeID.DATASET, "norm": LandscapeID.NORM,
          "dir_type": LandscapeID.DIR_TYPE}  # the settings chosen in dropdowns and checklists
check_settings = register_settings_check(LANDSCAPE, LandscapeID.STATUS, LandscapeID.STORE, CHOSEN, _request,
                                         blocked="Fix the settings marked in red.")
# Train & draw runs the settings as they are at the click (not the store: a value typed just before it)
run_request = register_run_request(LANDSCAPE, LandscapeID.RUN, LandscapeID.RUN_REQUEST, CHOSEN, _request)


def drawn_outputs(duplicate: bool) -> dict[str, Output]:
    """What a drawing callback writes, by name: the three figures and the status line under them
    (``duplicate``: for the callbacks that share them with Train & draw's)."""
    return {"main": Output(LandscapeID.MAIN, "figure", allow_duplicate=duplicate),
            "surface": Output(LandscapeID.SURFACE, "figure", allow_duplicate=duplicate),
            "training": Output(LandscapeID.TRAINING, "figure", allow_duplicate=duplicate),
            "text": Output(LandscapeID.PROGRESS_TEXT, "children", allow_duplicate=True)}


DRAWN = drawn_outputs(False)


def drawn(**values: Any) -> dict[str, Any]:
    """A drawing callback's return: ``values`` by name (main, surface, training, text), the rest unchanged."""
    return updates(DRAWN, **values)


@callback(
    DRAWN,
    Input(LandscapeID.RUN_REQUEST, "data"),
    **job_callback(JobIDs(LandscapeID.RUN, LandscapeID.CANCEL, LandscapeID.PROGRESS, LandscapeID.PROGRESS_TEXT),
                   DRAWN, "text"),
    prevent_initial_call=True,  # a link opens with its settings; training waits for a click
)
def draw(set_progress, request):
    """Train (or load) the network(s), then evaluate the landscape, with progress."""
    def report(what: str) -> Callable[[int, int], None]:
        return lambda done, total: set_progress((str(done), str(total), f"{what}: {done} of {total}"))

    try:
        return _draw(request, report)
    except InvalidSpec as err:  # a data file missing or damaged: one line naming it
        return drawn(text=nothing_drawn(err))


def nothing_drawn(err: InvalidSpec) -> str:
    """The status line of a view that could not be drawn; a missing or damaged data file is named
    relative to the data folder there, and the host's log gets the folder and the fetch command."""
    if isinstance(err, DataFileError):
        log.warning("%s %s", err, data_hint(err))
    return f"Nothing drawn: {err}"


def use_log(scale: str, *results: Any) -> tuple[bool, str]:
    """Whether the loss is shown in log scale, and what the status line says of it: "auto" is log
    when the finite positive losses span more than two decades (a wide range's detail is in the
    low basin, which a linear scale paints one colour)."""
    if scale != "auto":
        return scale == "log", ""
    values = np.concatenate([np.ravel(r.train_loss) for r in results])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return False, ""
    decades = float(np.log10(values.max() / values.min()))
    if decades > 2:
        return True, f"; colour scale log: the loss spans {decades:.1f} decades"
    return False, ""


def _what(train: Any) -> str:
    """"MLP on digits (8 × 8)", "article's CNN ×2 on MNIST": the model, its width and the data."""
    width = f" ×{train.width}" if train.width != 1 else ""
    return f"{MODELS[train.model].title}{width} on {SOURCES[train.dataset.name].title}"


def _checked(request: Any) -> Checked:
    state = request.get("state") if isinstance(request, dict) else None
    return check(state if isinstance(state, dict) else {"model": None})


Report = Callable[[str], Callable[[int, int], None]]


def _draw(request: Any, report: Report, stored_only: bool = False) -> dict[str, Any]:
    """The three figures and the line under them; with ``stored_only``, from what is on disk only
    (NotStored when something would have to be trained or evaluated). The view's row says which
    drawer (DRAW, by what the view computes) draws it."""
    checked = _checked(request)
    if not checked.ok:
        return drawn(text="Nothing drawn: " + "; ".join(checked.blocking.values()))
    try:
        resolve_device(device())
    except InvalidSpec as err:
        return drawn(text=f"Nothing drawn: LANDSCAPE_DEVICE: {err}")
    return DRAW[PAGE_VIEWS[checked.state["mode"]].computes](checked, report, stored_only)


def _model_a(spec: LandscapeSpec, report: Report, stored_only: bool) -> Trained:
    return trained_model(spec.train, report(f"training {_what(spec.train)} (epochs)"), stored_only)


def _single(checked: Checked, report: Report, stored_only: bool) -> dict[str, Any]:
    """A view of one model's landscape (its spec's own mode): a line, or a plane and its surface."""
    state, spec = checked.state, checked.specs["landscape"]
    view = PAGE_VIEWS[state["mode"]]
    trained = _model_a(spec, report, stored_only)

    def compute() -> Any:
        found = None
        if view.spectrum is not None:  # its directions first, with their own progress
            wanted = dataclasses.replace(view.spectrum(spec), max_matvecs=PAGE_LANCZOS)
            found = spectrum(wanted, trained, device(),
                             report("Lanczos: the Hessian's top two eigenvectors (products, at most)"))[0]
        return landscape(spec, trained, report(f"{view.title} (points)"), device(), evaluator(), found)

    result = stored_landscape(landscape_key(spec), compute, stored_only)
    log, said = use_log(state.get("scale", "auto"), result)
    if result.mode == "line":
        main, surface = make_line_figure(result, log), NO_SURFACE
    else:
        main, surface = make_plane_figure(result, log), make_landscape_surface(result, log)
    done = (f"{_what(spec.train)}, {spec.train.epochs} epochs: test accuracy {trained.test_acc[-1]:.3f}; "
            f"{view.points(spec.resolution)} points evaluated{said}.")
    return drawn(main=main, surface=surface, training=make_training_figure(trained), text=done)


NO_SURFACE = make_placeholder("(a line has no surface)")


def _sharpness(checked: Checked, report: Report, stored_only: bool) -> dict[str, Any]:
    """A and B trained alike but for the batch size: the line between them (the view "between"),
    both planes."""
    state, spec = checked.state, checked.specs["landscape"]
    first = _model_a(spec, report, stored_only)
    (train_b,) = pair_trainings(spec.train, state)
    second = _model_b(train_b, report, stored_only)
    spec_b = dataclasses.replace(spec, train=train_b)
    sharp = [_sharpness_of(t.train, trained, which, report, stored_only)
             for t, trained, which in ((spec, first, "A"), (spec_b, second, "B"))]
    names = (f"A: batch {spec.train.batch_size}, λmax {sharp[0]:.4g}",
             f"B: batch {train_b.batch_size}, λmax {sharp[1]:.4g}")
    line_view = VIEWS["between"]  # drawn here, beside both planes (not a view of the page on its own)
    line_spec = dataclasses.replace(spec, mode=line_view.spec_mode, lo=line_view.range[0], hi=line_view.range[1])
    path = stored_landscape(landscape_key(line_spec, spec_b.train),
                            lambda: between(line_spec, first, second, report("A → B (points)"), device(), evaluator()), stored_only)
    plane_a = stored_landscape(landscape_key(spec), lambda: landscape(spec, first, report("plane of A (points)"), device(), evaluator()),
                               stored_only)
    plane_b = stored_landscape(landscape_key(spec_b),
                               lambda: landscape(spec_b, second, report("plane of B (points)"), device(), evaluator()), stored_only)
    log, said = use_log(state.get("scale", "auto"), path, plane_a, plane_b)
    main = make_line_figure(path, log, f"1D: from A (α = 0) to B (α = 1)<br><sup>{names[0]} · {names[1]}</sup>")
    sharper = "A" if sharp[0] > sharp[1] else "B"
    done = (f"test accuracy {names[0]}: {first.test_acc[-1]:.3f}, {names[1]}: {second.test_acc[-1]:.3f}; "
            f"{sharper} is the sharper minimum (λmax: the training loss's largest Hessian eigenvalue, Lanczos); "
            f"both planes use the same seeded, {spec.norm}-normalized directions' recipe{said}.")
    return drawn(main=main, surface=make_plane_pair_figure(plane_a, plane_b, names, log),
                 training=make_training_figure(first, second, names=tuple(n.split(',')[0] for n in names)), text=done)


def _sharpness_of(train: Any, trained: Trained, which: str, report: Report, stored_only: bool) -> float:
    """λmax of a trained model's training loss (k = 1, within the page's Lanczos cap), kept on disk."""
    wanted = SpectrumSpec(train, k=1, max_matvecs=PAGE_LANCZOS)
    return float(stored_eigenvalues(wanted, lambda: spectrum(wanted, trained, device(),
                                                             report(f"λmax of {which} (products, at most)"))[0]
                                    .eigenvalues, stored_only)[0])


def _edge(checked: Checked, report: Report, stored_only: bool) -> dict[str, Any]:
    """λmax every few steps of model A's training against the optimizer's threshold (Cohen et
    al.'s edge of stability); the training it made is kept like any other."""
    spec: SharpeningSpec = checked.specs["sharpening"]

    def compute() -> Sharpening:
        result, trained = sharpening(spec, report("sharpness during training (measurements)"), device())
        keep_trained(spec.train, trained)
        return result

    result = stored_sharpening(spec, compute, stored_only)
    trained = trained_model(spec.train, report("training (epochs)"), stored_only)
    lr = float(spec.train.optimizer.values["lr"])
    what = "λmax(P⁻¹H)" if result.preconditioned else "λmax"
    finite = np.isfinite(result.sharpness)
    peak = float(np.nanmax(result.sharpness)) if finite.any() else float("nan")
    if np.isfinite(result.threshold):
        past = int((result.sharpness >= result.limits).sum())  # each against its own step's threshold
        if result.scheduled:  # (a cycle may move the momentum too: the formula's name would not hold)
            edge = (f"the stability threshold at each step's lr and momentum, between {np.nanmin(result.limits):.4g} "
                    f"and {np.nanmax(result.limits):.4g}")
        else:
            edge = f"the threshold {result.threshold_name.split(' = ')[0]} = {result.threshold:.4g}"
        edge += f"; {past} of {len(result.steps)} measurements at or past it"
    else:
        edge = "no stability threshold is known for this optimizer"
    done = (f"{_what(spec.train)}: {what} from {result.sharpness[0]:.4g} at step 0 to {result.sharpness[-1]:.4g} "
            f"at step {int(result.steps[-1])} (peak {peak:.4g}) on {spec.samples or 'all'} training images; {edge}; "
            f"test accuracy {trained.test_acc[-1]:.3f}.")
    return drawn(main=make_sharpening_figure(result, lr), surface=make_hessian_figure(result, spec.trace_samples),
                 training=make_training_figure(trained), text=done)


def _model_b(train_b: Any, report: Report, stored_only: bool) -> Trained:
    """Model B of A vs B and of A, B and C: trained as A but for pair.batch_size."""
    return trained_model(train_b, report(f"training B (batch {train_b.batch_size}, epochs)"), stored_only)


def _three(checked: Checked, report: Report, stored_only: bool) -> dict[str, Any]:
    """A; B trained alike but for the batch size; C alike but for the seed: the plane through
    the three (Li et al.'s model_file2/3), A at (0, 0), B at (1, 0), C at (0, 1)."""
    state, spec = checked.state, checked.specs["landscape"]
    first = _model_a(spec, report, stored_only)
    train_b, train_c = pair_trainings(spec.train, state)
    second = _model_b(train_b, report, stored_only)
    third = trained_model(train_c, report(f"training C (seed {train_c.seed}, epochs)"), stored_only)
    names = (f"A: batch {spec.train.batch_size}, seed {spec.train.seed}", f"B: batch {train_b.batch_size}",
             f"C: seed {train_c.seed}")
    result = stored_landscape(landscape_key(spec, "three", train_b, train_c),
                              lambda: through(spec, first, second, third, report("plane through A, B, C (points)"),
                                              device(), evaluator()), stored_only)
    log, said = use_log(state.get("scale", "auto"), result)
    accuracy = ", ".join(f"{n.split(':')[0]} {t.test_acc[-1]:.3f}" for n, t in zip(names, (first, second, third)))
    done = f"{_what(spec.train)}: test accuracy {accuracy}; {PAGE_VIEWS[state['mode']].points(spec.resolution)} points evaluated{said}."
    return drawn(main=make_plane_figure(result, log), surface=make_landscape_surface(result, log),
                 training=make_training_figure(first, second, third, names=names), text=done)


# The drawers of the page's views, by what a view computes (compute.landscape.View.computes).
DRAW: dict[str, Callable[[Checked, Report, bool], dict[str, Any]]] = {
    "landscape": _single, "sharpness": _sharpness, "three": _three, "sharpening": _edge}


clientside_callback(URL_SYNC_JS, Output(LandscapeID.LINK, "value"), Input(LandscapeID.STORE, "data"))


WAITING = make_placeholder("Press Train & draw")


def _quiet(_what: str) -> Callable[[int, int], None]:
    return lambda done, total: None


@callback(
    drawn_outputs(True),
    Input(LandscapeID.STORE, "data"),
    prevent_initial_call="initial_duplicate",
)
def show_stored(request):
    """Settings whose trainings and landscapes are on disk draw at once, from disk (a link, or a
    view change); anything else waits for Train & draw: on a link's first load the figures say so,
    after a change the figures on screen are marked out of date. Nothing trains without a click."""
    try:
        return _draw(request, _quiet, stored_only=True)
    except InvalidSpec as err:
        return drawn(text=nothing_drawn(err))
    except NotStored:
        spec = _checked(request).specs["landscape"]
        if ctx.triggered_id is None:
            return drawn(text=f"Press Train & draw: it trains the {_what(spec.train)} for {spec.train.epochs} "
                              "epochs (kept on disk), then draws this view.")
        return drawn(text="Out of date: the figures show the settings before your change. Press Train & draw.")


UPLOAD_MAX_BYTES = 700_000  # under the server's request cap (MAX_CONTENT_LENGTH, 1 MiB) once base64-encoded
NO_TRAINING = make_placeholder("(an opened file holds no training)")


@callback(
    drawn_outputs(True),
    Input(LandscapeID.UPLOAD, "contents"),
    State(LandscapeID.UPLOAD, "filename"),
    State(LandscapeID.STORE, "data"),
    prevent_initial_call=True,
)
def show_file(contents, filename, request):
    """A landscape file from the CLI or the Python API, drawn with the page's figures: read as
    plain arrays (never unpickled), checked, capped at UPLOAD_MAX_BYTES."""
    name = filename if isinstance(filename, str) else "the file"
    name = name[:80]
    if not isinstance(contents, str) or "," not in contents:
        return drawn(text=f"{name}: nothing to read")
    encoded = contents.split(",", 1)[1]
    if len(encoded) > UPLOAD_MAX_BYTES * 4 // 3 + 4:
        return drawn(text=f"{name}: larger than {UPLOAD_MAX_BYTES:,} bytes")
    share.before_heavy_work()  # reading a file is work: one at a time per person, a few per network
    try:
        result = load_landscape(base64.b64decode(encoded, validate=True))
    except (InvalidSpec, binascii.Error, ValueError) as err:
        return drawn(text=f"{name}: {err}")
    scale = _checked(request).state.get("scale", "auto")
    log, said = use_log(scale, result)
    if result.mode == "line":
        main, surface = make_line_figure(result, log, f"{name}: 1D"), NO_SURFACE
    else:
        main, surface = make_plane_figure(result, log), make_landscape_surface(result, log)
    return drawn(main=main, surface=surface, training=NO_TRAINING,
                 text=f"Showing {name}: {result.description or result.mode}{said}.")
