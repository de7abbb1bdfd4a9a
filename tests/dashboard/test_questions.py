"""Asking the room: a question about the presenter's view, one anonymous answer per session, the
room's answers for the presenter, and the engine's answer against an independent reference."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from flask import Flask

from compute import DataSpec, InvalidSpec, OptimizerSpec, RunSpec
from compute.curvature import stable_lr, toy_hessian
from dashboard import questions
from dashboard import rooms as rooms_module
from dashboard.clients import Client
from dashboard.ratelimit import make_limiter
from dashboard.rooms import ANSWERS_MAX, Asking, RoomError, Rooms, install
from dashboard.store import DiskStore

PATHS = {"/", "/compare", "/sweep", "/landscape"}


def who(name: str) -> Client:
    return Client(f"s:{name}", "10.0.0.1")


def pose(kind, path, query):
    return questions.pose(kind, {"/": "toy", "/sweep": "sweep"}.get(path, ""), query)


@pytest.fixture
def rooms(tmp_path, clock):
    return Rooms(DiskStore(str(tmp_path / "store")), lambda: PATHS, clock=clock)


def test_the_room_answers_once_each_and_the_presenter_sees_every_answer(rooms):
    made = rooms.create(who("host"), "/?data.x_offset=3&sgd.lr=0.05")
    code, key = made["code"], made["key"]
    asked = rooms.ask(code, key, lambda path, query: pose("stable-lr", path, query))
    assert asked["key"] == "sgd.lr" and asked["default"] == 0.05 and asked["log"] and asked["truth"] is None
    seen = rooms.follow(code, who("p1"))["question"]  # a follower's poll carries it, without the view's query
    assert seen == asked and "query" not in seen
    for i, value in enumerate(("0.08", 0.12, "0.2")):
        assert rooms.answer(code, who(f"p{i}"), asked["id"], value, questions.check_answer)["answers"] == i + 1
    with pytest.raises(RoomError, match="You have answered"):
        rooms.answer(code, who("p0"), asked["id"], "0.3", questions.check_answer)
    for bad in ("-1", "x", None, float("nan"), "1e9", [0.1]):  # the setting's own check
        with pytest.raises(RoomError) as err:
            rooms.answer(code, who("p9"), asked["id"], bad, questions.check_answer)
        assert err.value.status == 400 and "lr" in err.value.message
    with pytest.raises(RoomError) as err:
        rooms.answer(code, who("p9"), asked["id"] + 1, "0.1", questions.check_answer)
    assert err.value.status == 409
    assert rooms.results(code, key)["answers"] == [0.08, 0.12, 0.2]
    with pytest.raises(RoomError):
        rooms.results(code, "not-the-key")
    shown = rooms.reveal(code, key, questions.reveal)
    assert shown["truth"]["value"] == pytest.approx(0.0985, rel=0.02)
    assert rooms.follow(code, who("p1"))["question"]["truth"] == shown["truth"]
    rooms.close_question(code, key)
    assert "question" not in rooms.follow(code, who("p1")) and rooms.results(code, key)["answers"] == []
    again = rooms.ask(code, key, lambda path, query: pose("fastest-momentum", path, query))
    assert again["id"] == asked["id"] + 1 and again["key"] == "sgd.momentum"


def test_answers_are_bounded_and_counted_once_under_threads(rooms):
    made = rooms.create(who("host"), "/")
    asked = rooms.ask(made["code"], made["key"], lambda path, query: pose("stable-lr", path, query))

    def answer(i):
        try:
            return rooms.answer(made["code"], who(f"p{i % 40}"), asked["id"], 0.5, questions.check_answer)
        except RoomError as err:
            return err.status

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(answer, range(120)))
    assert sum(isinstance(d, dict) for d in done) == 40 and done.count(409) == 80  # 40 sessions, once each
    assert len(rooms.results(made["code"], made["key"])["answers"]) == 40


def test_a_question_keeps_at_most_its_cap_of_answers(rooms, monkeypatch):
    monkeypatch.setattr(rooms_module, "ANSWERS_MAX", 5)
    made = rooms.create(who("host"), "/")
    asked = rooms.ask(made["code"], made["key"], lambda path, query: pose("stable-lr", path, query))
    for i in range(5):
        rooms.answer(made["code"], who(f"p{i}"), asked["id"], 0.5, questions.check_answer)
    with pytest.raises(RoomError) as err:
        rooms.answer(made["code"], who("p5"), asked["id"], 0.5, questions.check_answer)
    assert err.value.status == 429 and "its 5 answers" in err.value.message
    assert ANSWERS_MAX == 500


def test_a_question_is_asked_where_it_makes_sense(rooms):
    made = rooms.create(who("host"), "/sweep")
    with pytest.raises(RoomError, match="open the toy lab"):
        rooms.ask(made["code"], made["key"], lambda path, query: pose("stable-lr", path, query))
    rooms.publish(made["code"], made["key"], "/?optimizer=adam")
    with pytest.raises(RoomError, match="the largest lr that still converges” is asked of the One loss view of sgd"):
        rooms.ask(made["code"], made["key"], lambda path, query: pose("stable-lr", path, query))
    assert rooms.ask(made["code"], made["key"], lambda path, query: pose("fastest-lr", path, query))["key"] == "adam.lr"
    with pytest.raises(RoomError, match="no question 'nope'"):
        rooms.ask(made["code"], made["key"], lambda path, query: pose("nope", path, query))
    rooms.publish(made["code"], made["key"], "/?run.epochs=2000&data.n=1000")
    with pytest.raises(RoomError, match="past the probe's"):
        rooms.ask(made["code"], made["key"], lambda path, query: pose("stable-lr", path, query))


def _torch_run(data: DataSpec, lr: float, momentum: float, epochs: int = 100) -> list[float]:
    """Full-batch SGD on MSE with torch.optim: the loss per step (an independent reference)."""
    from compute import toy_data

    x, y = (torch.tensor(a).reshape(-1, 1) for a in toy_data(data))
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(6.0)
        model.bias.fill_(-3.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    losses = []
    for _ in range(epochs + 1):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return losses


def test_the_engines_largest_stable_lr_agrees_with_torch_and_the_theory():
    question = questions.pose("stable-lr", "toy", {"data.x_offset": "3"})
    truth = questions.reveal(question)
    bound = stable_lr(toy_hessian(DataSpec(x_offset=3.0), RunSpec().loss, 6.0, -3.0).sharpness,
                      OptimizerSpec("sgd", (("lr", 0.1),)))
    assert truth.value <= bound < truth.value * 1.02  # the grid's next value is past the bound
    below, above = _torch_run(DataSpec(x_offset=3.0), truth.value, 0.0), _torch_run(DataSpec(x_offset=3.0), bound * 1.05, 0.0)
    assert below[-1] < below[0] and not above[-1] < above[0]
    assert "the theory's bound at the start is 0.0996" in truth.how


def test_the_engines_fastest_momentum_is_fastest_in_torch_too():
    question = questions.pose("fastest-momentum", "toy", {"data.x_offset": "3", "sgd.lr": "0.05"})
    truth = questions.reveal(question)
    runs = {m: np.array(_torch_run(DataSpec(x_offset=3.0), 0.05, m)) for m in (0.0, 0.5, truth.value)}
    lowest = min(r.min() for r in runs.values())

    def steps(r):
        return int(np.argmax(r <= lowest * 1.01)) if (r <= lowest * 1.01).any() else 10**9

    assert steps(runs[truth.value]) < min(steps(runs[0.0]), steps(runs[0.5]))


def test_a_question_outside_the_toy_lab_is_one_sentence():
    for kind, page, query, said in (("stable-lr", "compare", {}, "open the toy lab"),
                                    ("stable-lr", "toy", {"sgd.lr": "-1"}, "marked in red"),
                                    ("stable-lr", "toy", {"tab": "all"}, "One loss view")):
        with pytest.raises(InvalidSpec, match=said):
            questions.pose(kind, page, query)


def test_the_http_routes_ask_answer_reveal_and_refuse_strangers(rooms):
    server = Flask(__name__)
    current = {"who": who("host")}
    install(server, rooms, lambda: current["who"], make_limiter(server, rooms.store),
            asking=Asking(pose, questions.check_answer, questions.reveal))
    client = server.test_client()
    made = client.post("/room", json={"url": "/"}).get_json()
    code, key = made["code"], {"X-Room-Key": made["key"]}
    assert client.post(f"/room/{code}/question", json={"kind": "stable-lr"}).status_code == 403  # no key
    asked = client.post(f"/room/{code}/question", json={"kind": "stable-lr"}, headers=key).get_json()
    assert asked["key"] == "sgd.lr"
    for i, value in enumerate(("0.5", "0.9", "2")):
        current["who"] = who(f"p{i}")
        assert client.post(f"/room/{code}/answer", json={"question": asked["id"], "value": value}).status_code == 200
    current["who"] = who("p0")
    again = client.post(f"/room/{code}/answer", json={"question": asked["id"], "value": "1"})
    assert again.status_code == 409 and "answered" in again.get_json()["error"]
    for body in (None, [], {"question": asked["id"], "value": {"x": 1}}, {"question": "x" * 10_000, "value": 1}):
        bad = client.post(f"/room/{code}/answer", json=body)
        assert bad.status_code in (400, 409) and "error" in bad.get_json()
    assert client.get(f"/room/{code}/answers").status_code == 403
    assert client.get(f"/room/{code}/answers", headers=key).get_json()["answers"] == [0.5, 0.9, 2.0]
    truth = client.post(f"/room/{code}/question/reveal", headers=key).get_json()["truth"]
    assert truth["value"] == pytest.approx(0.966, rel=0.02)
    assert client.delete(f"/room/{code}/question", headers=key).status_code == 200
    assert client.get(f"/room/{code}/answers", headers=key).get_json() == {"question": None, "answers": []}


def test_a_presenters_own_lesson_travels_with_the_room(rooms):
    from dashboard.lessons import LessonError, shared

    lesson = {"title": "Mine", "steps": [{"title": "One", "view": "/?sgd.lr=0.02", "text": "A slow run."}]}
    made = rooms.create(who("host"), "/?sgd.lr=0.02&lesson=file.1")
    assert "lesson_rev" not in rooms.follow(made["code"], who("f"))
    assert rooms.share_lesson(made["code"], made["key"], lesson, shared) == 1
    assert rooms.share_lesson(made["code"], made["key"], lesson, shared) == 1  # the same: no new revision
    first = rooms.follow(made["code"], who("f"), lesson="")
    assert first["lesson_rev"] == 1 and first["lesson"] == shared(lesson)
    assert "lesson" not in rooms.follow(made["code"], who("f"), lesson=1)  # read only when it changed
    with pytest.raises(RoomError) as err:
        rooms.share_lesson(made["code"], "not-the-key", lesson, shared)
    assert err.value.status == 403
    for bad in ({**lesson, "steps": [{**lesson["steps"][0], "view": "/?sgd.lr=-1"}]}, "text", None,
                {"title": "x" * 200_000, "steps": []}):
        with pytest.raises(RoomError) as err:
            rooms.share_lesson(made["code"], made["key"], bad, shared)
        assert err.value.status == 400
    with pytest.raises(LessonError):
        shared([1, 2])


def test_a_body_nested_past_the_decoder_is_a_bad_request_never_a_500(rooms, client):
    """A JSON body nested 100,000 deep (the decoder's recursion gives out): 400 with a sentence, on the
    room's routes and on Dash's own endpoint, never a 500 or a claim that the store is down."""
    server = Flask(__name__)
    install(server, rooms, lambda: who("p"), make_limiter(server, rooms.store),
            asking=Asking(pose, questions.check_answer, questions.reveal))
    rooms_client = server.test_client()
    made = rooms.create(who("host"), "/")
    deep = '{"question": 1, "value": ' + "[" * 100_000 + "]" * 100_000 + "}"
    for path in ("/room", f"/room/{made['code']}/answer", f"/room/{made['code']}"):
        answered = rooms_client.post(path, data=deep, content_type="application/json")
        assert answered.status_code == 400 and "nests too deeply" in answered.get_json()["error"], path
    dash = client.post("/_dash-update-component", data=deep, content_type="application/json")
    assert dash.status_code == 400 and "nests too deeply" in dash.get_json()["error"]
