"""Hostile input for every callback: random and malicious values through POST
/_dash-update-component for each callback /_dash-dependencies lists, built on the real layouts'
component IDs. Every answer is a message or no update (200/204), or a refusal of a malformed
request (4xx), never a 500; the server stays responsive; no request outlives REQUEST_CAP_S.

Background callbacks (sweep, landscape) start a job rather than answer; their job functions get
hostile values directly: a small valid request with settings no setting accepts keeps every figure
and names each bad setting, a malformed request keeps every figure, and the valid request draws.
"""

from __future__ import annotations

import importlib
import json
import math
import re
import time
from typing import Any

import dash
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import settings as server_settings
from dashboard.state import PAGES

from .conftest import call_callback

UPDATE = "/_dash-update-component"
REQUEST_CAP_S = 20.0  # the documented cap (README, "Hosting a workshop"): work caps keep requests far below it

HOSTILE = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324, 0, -0.0]),
    st.sampled_from(["NaN", "inf", "-1e400", "1e999", "", " ", "0x10", "1_000", "<script>alert(1)</script>",
                     "' OR 1=1 --", "../../etc/passwd", "\x00", "🙂" * 50, "a" * 5000, "__proto__"]),
    st.text(max_size=30),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
)
MISSING = object()


def _json_safe(value: Any) -> Any:
    """NaN and inf as the browser's JSON.stringify would send them (null); the rest unchanged."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _components(tree: Any, found: list[dict]) -> list[dict]:
    """Every component in a layout's JSON with its id and props."""
    if isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            props = tree["props"]
            if "id" in props:
                found.append(props)
            _components(props.get("children"), found)
            for value in props.values():
                if isinstance(value, (dict, list)) and value is not props.get("children"):
                    _components(value, found)
        else:
            for value in tree.values():
                _components(value, found)
    elif isinstance(tree, (list, tuple)):
        for item in tree:
            _components(item, found)
    return found


@pytest.fixture(scope="module")
def layout_components(dash_app) -> list[dict]:
    found: list[dict] = []
    for page in dash.page_registry.values():
        layout = page["layout"]() if callable(page["layout"]) else page["layout"]
        _components(json.loads(json.dumps(layout.to_plotly_json(), default=lambda o: o.to_plotly_json())), found)
    return found


def _parse_id(text: str) -> Any:
    return json.loads(text) if text.startswith("{") else text


def _split_outputs(output: str) -> list[tuple[Any, str]]:
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [(_parse_id(p.rsplit(".", 1)[0]), p.rsplit(".", 1)[1].split("@")[0]) for p in parts]


def _matches(pattern: dict, cid: Any) -> bool:
    return isinstance(cid, dict) and cid.keys() == pattern.keys() and all(
        isinstance(v, list) or cid[k] == v for k, v in pattern.items())


def _entries(cid: Any, prop: str, components: list[dict], match: dict) -> Any:
    """The request entries of one dependency: one dict, or a list for an ALL pattern."""
    if not isinstance(cid, dict):
        known = next((c for c in components if c["id"] == cid), {})
        return {"id": cid, "property": prop, "known": known.get(prop, MISSING)}
    concrete = {k: (match.get(k, v) if v == ["MATCH"] else v) for k, v in cid.items()}
    hits = [c for c in components if _matches(concrete, c["id"])]
    if any(v == ["ALL"] for v in concrete.values()):
        return [{"id": c["id"], "property": prop, "known": c.get(prop, MISSING)} for c in hits]
    c = hits[0] if hits else {"id": concrete}
    return {"id": c["id"], "property": prop, "known": c.get(prop, MISSING)}


def _match_values(dep: dict, components: list[dict]) -> dict:
    """A concrete value for each MATCH key: the first component that matches the first MATCH input."""
    for item in dep["inputs"]:
        pattern = _parse_id(item["id"])
        if isinstance(pattern, dict) and ["MATCH"] in pattern.values():
            hit = next(c["id"] for c in components if _matches(pattern, c["id"]))
            return {k: hit[k] for k, v in pattern.items() if v == ["MATCH"]}
    return {}


def _server_callbacks(dash_app) -> list[dict]:
    deps = dash_app.server.test_client().get("/_dash-dependencies").json
    return [d for d in deps if not d.get("clientside_function") and not d.get("background")]


CALLBACK_COUNT = 37  # server-side, non-background callbacks; a test below keeps this honest


def test_every_server_callback_is_fuzzed(dash_app):
    assert len(_server_callbacks(dash_app)) == CALLBACK_COUNT


def _fill(entry: Any, draw) -> Any:
    if isinstance(entry, list):
        return [_fill(e, draw) for e in entry]
    choice = draw(st.sampled_from(["known", "hostile", "hostile", "missing"]))
    out = {"id": entry["id"], "property": entry["property"]}
    if choice == "known" and entry["known"] is not MISSING:
        out["value"] = entry["known"]
    elif choice != "missing":
        out["value"] = _json_safe(draw(HOSTILE))
    return out


@pytest.mark.parametrize("index", range(CALLBACK_COUNT))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_values_never_break_a_callback(dash_app, layout_components, index, data):
    deps = _server_callbacks(dash_app)
    dep = deps[index]
    match = _match_values(dep, layout_components)
    inputs = [_fill(_entries(_parse_id(i["id"]), i["property"], layout_components, match), data.draw)
              for i in dep["inputs"]]
    state = [_fill(_entries(_parse_id(s["id"]), s["property"], layout_components, match), data.draw)
             for s in dep["state"]]
    outs = [_entries(cid, prop, layout_components, match) for cid, prop in _split_outputs(dep["output"])]
    outs = [[{"id": e["id"], "property": e["property"]} for e in o] if isinstance(o, list)
            else {"id": o["id"], "property": o["property"]} for o in outs]
    first = dep["inputs"][0]
    body = {"output": dep["output"], "outputs": outs if dep["output"].startswith("..") else outs[0],
            "inputs": inputs, "state": state, "changedPropIds": [f"{first['id']}.{first['property']}"]}
    for key in data.draw(st.lists(st.sampled_from(["inputs", "state", "outputs", "changedPropIds"]),
                                  max_size=1)):
        del body[key]  # a missing field
    client = dash_app.server.test_client()
    start = time.monotonic()
    response = client.post(UPDATE, data=json.dumps(body), content_type="application/json")
    elapsed = time.monotonic() - start
    assert response.status_code < 500, (dep["output"], body, response.data[:300])
    assert response.status_code in (200, 204) or 400 <= response.status_code < 500
    if response.status_code == 200:
        text = response.get_data(as_text=True)
        assert "Traceback" not in text
        if "_pages_content" not in dep["output"]:  # Dash's own router may only get its error banner
            assert "Something went wrong" not in text, (body, text[:300])  # ours validate
    assert elapsed < REQUEST_CAP_S, f"{dep['output'][:60]} took {elapsed:.1f} s"


def test_the_server_answers_after_the_fuzz(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/").status_code == 200


# The background jobs: the function, a small valid state of its page (it draws in about a second),
# what its status line says when it draws, and when it refuses.
JOBS = {"sweep": ("sweep", {"sweep.x_points": 3, "sweep.y_points": 2, "run.epochs": 5}, "6 runs × 5 steps done",
                  "No sweep: "),
        "landscape": ("draw", {"model": "mlp", "net.epochs": 1, "mode": "line", "landscape.resolution": 3},
                      "3 points evaluated", "Nothing drawn: ")}
JOB_KEYS = ["sweep.x_points", "sweep.y_points", "run.epochs", "net.epochs", "landscape.resolution", "model", "mode",
            "optimizer", "data.n"]  # settings of one page or the other: each page knows some of them
CHOICE_NAMES = {name for key in ("model", "mode", "optimizer") for page in ("landscape", "sweep")
                for name in PAGES[page].choices.get(key, ())}


def _a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# Values that none of JOB_KEYS accepts: those are whole numbers from 0 to at most 2,000, or a name
# from a list, so anything negative, huge, fractional, not finite, not a number, or not a name is refused.
REFUSED = st.one_of(
    st.none(), st.booleans(), st.integers(max_value=-1), st.integers(min_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda x: not (math.isfinite(x) and x == int(x) and 0 <= x <= 1e6)),
    st.sampled_from(["NaN", "inf", "-1e400", "1e999", "", " ", "0x10", "<script>alert(1)</script>", "' OR 1=1 --",
                     "../../etc/passwd", "\x00", "🙂" * 50, "a" * 5000, "__proto__"]),
    st.text(max_size=30).filter(lambda t: not _a_number(t) and t not in CHOICE_NAMES),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=3),
)


def _job(module: str, request: Any, monkeypatch, tmp_path) -> tuple:
    monkeypatch.setenv("WEIGHTS_DIR", str(tmp_path))
    server_settings.settings.cache_clear()
    function = JOBS[module][0]
    job = getattr(importlib.import_module(f"dashboard.pages.{module}"), function)
    args = (request,) if function == "draw" else (request, 1)
    return list(call_callback(job, lambda _: None, *args).values())  # the figures, then the status line


def _names(message: str, key: str) -> bool:
    """Whether the status line names the setting: "unknown setting 'key'", or a clause "name must …"
    or "name needs …" (compute's messages, one per bad setting, joined by "; ")."""
    name = re.escape(key.rsplit(".", 1)[-1])
    return f"unknown setting {key!r}" in message or re.search(rf"(: |; ){name} (must|needs) ", message) is not None


@pytest.mark.parametrize("module", list(JOBS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=st.dictionaries(st.sampled_from(JOB_KEYS), REFUSED, min_size=1, max_size=4))
def test_hostile_settings_sent_to_a_background_job_are_named_and_change_nothing(module, bad, tmp_path, monkeypatch):
    """The page's small valid request with some settings replaced by values no setting accepts: every
    figure stays as it was (no_update) and the status line names each bad setting."""
    _function, valid, _drawn, refusal = JOBS[module]
    out = _job(module, {"state": {**valid, **bad}}, monkeypatch, tmp_path)
    assert all(figure is dash.no_update for figure in out[:-1])
    assert out[-1].startswith(refusal), out[-1]
    assert all(_names(out[-1], key) for key in bad), (bad, out[-1])


@pytest.mark.parametrize("module", list(JOBS))
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=st.one_of(HOSTILE.filter(lambda v: not isinstance(v, dict)),
                         st.fixed_dictionaries({"state": HOSTILE.filter(lambda v: not isinstance(v, dict))})))
def test_a_malformed_request_to_a_background_job_changes_nothing(module, request, tmp_path, monkeypatch):
    out = _job(module, request, monkeypatch, tmp_path)
    assert all(figure is dash.no_update for figure in out[:-1])
    assert out[-1].startswith(JOBS[module][3]), out[-1]


@pytest.mark.parametrize("module", list(JOBS))
def test_the_valid_request_the_fuzz_starts_from_draws(module, tmp_path, monkeypatch):
    """The control of the two tests above: the same request without the bad values draws."""
    _function, valid, drawn, _refusal = JOBS[module]
    out = _job(module, {"state": valid}, monkeypatch, tmp_path)
    assert all(isinstance(figure, dict) for figure in out[:-1]) and out[0]["data"], out[-1]
    assert drawn in out[-1]
