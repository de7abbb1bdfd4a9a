"""Hand-made requests to Dash's endpoint: bad values get messages, nothing answers 500."""

import importlib
import json

import pytest

from dashboard.ids import ID

from .conftest import render_body

UPDATE = "/_dash-update-component"


def post(client, body):
    return client.post(UPDATE, data=json.dumps(body), content_type="application/json")


def test_render_through_the_endpoint(client, dash_app):
    response = post(client, render_body(dash_app))
    assert response.status_code == 200
    doc = response.get_json()["response"]
    assert doc[ID.MAP]["figure"]["layout"]["title"]["text"] == "MSELoss"


@pytest.mark.parametrize("value", ["abc", None, "NaN", "1e400", -1, 1e308, [1, 2], {"a": 1}, True, ""])
def test_wrong_types_for_lr_answer_with_a_message(client, dash_app, value):
    response = post(client, render_body(dash_app, {"sgd.lr": value}))
    assert response.status_code == 200
    doc = response.get_json()["response"]
    messages = [v["children"] for k, v in doc.items() if "param-msg" in k and v["children"]]
    assert len(messages) == 1 and "lr" in messages[0]
    assert ID.MAP not in doc  # nothing recomputed


@pytest.mark.parametrize(("field", "value"), [
    ("loss", 42), ("loss", ["mse"]), ("tab", {"x": 1}), ("optimizer", "adamw2"), ("log", 7), ("log", "yes"),
    ("step", "soon"),
])
def test_wrong_types_for_choices_never_500(client, dash_app, field, value):
    kwargs = {field: value}
    response = post(client, render_body(dash_app, **kwargs))
    assert response.status_code in (200, 204)


@pytest.mark.parametrize("mangle", [
    lambda b: {k: v for k, v in b.items() if k != "inputs"},
    lambda b: {**b, "inputs": "nonsense"},
    lambda b: {**b, "inputs": [{"id": "x"}]},
    lambda b: {**b, "output": "no-such.children"},
    lambda b: {**b, "changedPropIds": 5},
    lambda b: [],
])
def test_malformed_requests_are_refused_not_crashed(client, dash_app, mangle):
    response = post(client, mangle(render_body(dash_app)))
    assert response.status_code < 500
    assert post(client, render_body(dash_app)).status_code == 200  # still healthy


def test_non_json_body_is_refused(client):
    response = client.post(UPDATE, data=b"\x00\xff not json", content_type="application/json")
    assert 400 <= response.status_code < 500


def test_oversized_body_is_refused(client, dash_app):
    body = render_body(dash_app, {"sgd.lr": "9" * (2 << 20)})
    assert post(client, body).status_code == 413


def test_bad_query_string_opens_the_default_view_with_a_note(client):
    assert client.get("/?sgd.lr=abc&bogus=1").status_code == 200
    layout = json.dumps(importlib.import_module("dashboard.pages.toy").layout(**{"sgd.lr": "abc"}).to_plotly_json(),
                        default=str)
    assert "Ignored from the link" in layout and "sgd.lr" in layout


@pytest.mark.parametrize(("page", "query"), [
    ("toy", {"sgd.lr": "abc", "bogus": "1"}),
    ("compare", {"r1.sgd.lr": "-5", "bogus": "1"}),
    ("sweep", {"sweep.x_points": "1e9", "bogus": "1"}),
    ("landscape", {"net.epochs": "many", "bogus": "1"}),
])
def test_every_page_opens_a_bad_link_on_defaults_with_a_note(client, page, query):
    path = {"toy": "/"}.get(page, f"/{page}")
    assert client.get(path, query_string=query).status_code == 200
    layout = json.dumps(importlib.import_module(f"dashboard.pages.{page}").layout(**query).to_plotly_json(),
                        default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o))
    assert "Ignored from the link" in layout and "bogus" in layout
