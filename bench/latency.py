"""bench latency: server-side time of the toy lab's callbacks through Dash's endpoint.

Each request is a real POST to /_dash-update-component through the Flask test client
(validation, callback, cache, serialization; no network). "uncached" clears the cache
before each request; "new run" changes lr so the runs miss while the loss maps hit (what
moving an optimizer control costs); "cached" repeats one request. Smoke mode: one request a
row after one warm-up.
"""

from __future__ import annotations

import json
import statistics
import time

import torch

from bench.smoke import sane
from dashboard.cache import cache
from dashboard.callback_requests import render_body

SIZES = {False: (40, 2), True: (1, 1)}  # (requests a row, warm-up requests): the full run's, the smoke's


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _measure(client, make_body, repeat: int, before=None) -> tuple[list[float], int]:
    times, size = [], 0
    for i in range(repeat):
        if before:
            before()
        body = json.dumps(make_body(i))
        start = time.perf_counter()
        response = client.post("/_dash-update-component", data=body, content_type="application/json")
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
        size = len(response.data)
    return times, size


def main(repeat: int | None = None, smoke: bool = False) -> None:
    import app  # builds the app with its cache (SimpleCache unless the environment says otherwise)

    repeat, warm_up = repeat or SIZES[smoke][0], SIZES[smoke][1]
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()

    def clear():
        with app.server.app_context():
            cache.clear()

    def lr(i: int) -> dict:
        return {"sgd.lr": round(0.05 + 0.001 * i, 4)}

    first = client.post("/_dash-update-component", data=json.dumps(render_body(deps)),
                        content_type="application/json").get_json()
    view = first["response"]["view-store"]["data"]
    view_all = client.post("/_dash-update-component", data=json.dumps(render_body(deps, tab="all")),
                           content_type="application/json").get_json()["response"]["view-store"]["data"]
    scenarios = [
        ("one loss, uncached", lambda i: render_body(deps, lr(i)), clear),
        ("one loss, new run", lambda i: render_body(deps, lr(i)), None),
        ("one loss, run over its map", lambda i: render_body(deps, lr(i + 500), drawn=view), None),
        ("one loss, cached", lambda i: render_body(deps), None),
        ("2x2 view, uncached", lambda i: render_body(deps, lr(i), tab="all"), clear),
        ("2x2 view, new runs", lambda i: render_body(deps, lr(i + 1000), tab="all"), None),
        ("2x2 view, cached", lambda i: render_body(deps, tab="all"), None),
        ("2x2, runs over their maps", lambda i: render_body(deps, lr(i + 1500), tab="all", drawn=view_all), None),
    ]
    with app.server.app_context():
        backend = type(cache.cache).__name__
    print(f"bench latency: 100 epochs, {repeat} requests per row, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, cache {backend}")
    print(f"{'callback':<24}{'median ms':>11}{'p95 ms':>9}{'payload KB':>12}")
    for name, make_body, before in scenarios:
        # warm-up (imports, first figure) on bodies of its own: a "new run" row's first requests stay new
        _measure(client, lambda i, make_body=make_body: make_body(repeat + i), warm_up, before)
        times, size = _measure(client, make_body, repeat, before)
        median, p95 = statistics.median(times), _percentile(times, 0.95)
        print(f"{name:<24}{median * 1e3:>11.1f}{p95 * 1e3:>9.1f}{size / 1024:>12.1f}")
        sane(f"{name}: median s", median)
        sane(f"{name}: p95 s", p95, low=median)
        sane(f"{name}: payload bytes", size, low=1)
    print("goal (2x2 view): uncached p95 < 50 ms, cached p95 < 5 ms")
