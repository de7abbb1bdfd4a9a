"""bench browser: the toy lab as a participant feels it, in Debian's Chromium driven by Playwright.

For the one-loss and the 2 × 2 views: change-to-paint (from the change to the first figure drawn
with it, median and p95) for a typed value, a −/+ click and a slider released after a drag; the
draws each figure makes per change; and, while a slider is dragged, the previews drawn per second
and the time one preview draw takes in the page. The reference, measured in the same run and page,
is one Plotly.react of the page's own map figure (the cost of drawing the view once): a ratio of
about 1 means a change costs one draw.

Smoke mode (``--smoke``): the one-loss view only, one change of each kind and one drag, with short
pauses (a second draw of a change may then go uncounted); it requires every change drawn.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.smoke import require, sane
from dashboard.ids import PARAM, param_part_id
from tests.serving import ROOT_DIR, SUB_PATH_VARIABLES, answers, free_port, stop, wait_for

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
# Counts each figure's draws (Plotly's afterplot) and stamps the first after a mark.
WATCH = """() => {
    window.__bench = {mark: 0, first: null, draws: {}};
    document.querySelectorAll('.js-plotly-plot').forEach(gd => {
        const id = gd.closest('[id]').id;
        if (gd.__benched) { return; }
        gd.__benched = true;
        const drawn = () => {  // a full draw, or a new path moved in place over the map (animate)
            const b = window.__bench;
            b.draws[id] = (b.draws[id] || 0) + 1;
            if (b.first === null && b.mark) { b.first = performance.now() - b.mark; }
        };
        gd.on('plotly_afterplot', drawn);
        gd.on('plotly_animated', drawn);
    });
}"""
# Arms the clock: the change starts at the page's own event (the Enter keydown, the −/+ click, the
# slider's pointerup), not when Playwright begins to act (its fill, scrolling and checks took 20-40 ms).
ARM = """(kind) => {
    const b = window.__bench;
    b.mark = 0; b.first = null; b.draws = {};
    if (!b.listening) {
        b.listening = true;
        const stamp = event => { if (b.armed === event.type && !b.mark) { b.mark = event.timeStamp; } };
        ["keydown", "click", "pointerup"].forEach(type => document.addEventListener(type, stamp, true));
    }
    b.armed = kind;
}"""
REFERENCE = """async (id) => {
    const gd = document.querySelector('#' + id + ' .js-plotly-plot');
    const times = [];
    for (let k = 0; k < 8; k++) {
        const data = gd.data.map(t => Object.assign({}, t)), layout = Object.assign({}, gd.layout);
        layout.datarevision = k + 1;
        const t0 = performance.now();
        await Plotly.react(gd, data, layout);
        times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
}"""


@dataclass(frozen=True)
class Sizes:
    """What one run does in the page."""

    repeat: int  # changes of each kind a view
    drags: int  # slider drags a view
    views: tuple[str, ...]  # the toy lab's tabs: "single" (one loss), "all" (the 2 × 2 view)
    loaded_s: float  # the pause after the page's first figure
    settle_s: float  # after a change's first draw: a second draw of it would come within this


SIZES = {False: Sizes(repeat=12, drags=4, views=("single", "all"), loaded_s=2.0, settle_s=1.0),
         True: Sizes(repeat=1, drags=1, views=("single",), loaded_s=0.5, settle_s=0.3)}


def _selector(kind: str, group: str, name: str) -> str:
    if kind != PARAM:  # the slider and −/+ beside a box: plain string IDs
        return "#" + param_part_id(kind, group, name)
    return "[id='" + json.dumps({"group": group, "name": name, "page": "toy", "type": kind},
                                separators=(",", ":"), sort_keys=True) + "']"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _change(page, act, figure: str, event: str, settle_s: float) -> tuple[float, dict]:
    page.evaluate(ARM, event)
    act()
    deadline = time.perf_counter() + 15
    while page.evaluate("window.__bench.first") is None:
        if time.perf_counter() > deadline:
            raise SystemExit(f"bench browser: no draw of {figure} within 15 s")
        time.sleep(0.005)
    first = page.evaluate("window.__bench.first")
    time.sleep(settle_s)  # a second draw of the same change would come within this
    return first, page.evaluate("window.__bench.draws")


def _view(page, url: str, tab: str, sizes: Sizes) -> dict:
    page.goto(url + ("/?tab=all" if tab == "all" else "/"))
    figure = "all-maps-figure" if tab == "all" else "map-figure"
    page.wait_for_selector(f"#{figure} .main-svg", timeout=60_000)
    time.sleep(sizes.loaded_s)
    page.evaluate(WATCH)
    reference = page.evaluate(REFERENCE, figure)
    box = page.locator(_selector(PARAM, "sgd", "lr"))
    rows: dict[str, list[float]] = {"typed": [], "plus/minus": [], "release": []}
    draws: list[int] = []
    for i in range(sizes.repeat):
        box.fill(f"{0.05 + 0.0007 * i:.4f}")
        ms, counts = _change(page, lambda: box.press("Enter"), figure, "keydown", sizes.settle_s)
        rows["typed"].append(ms)
        draws.append(max(counts.values()))
        ms, counts = _change(page, lambda i=i: page.click(_selector("param-up" if i % 2 else "param-down",
                                                                   "sgd", "lr")), figure, "click", sizes.settle_s)
        rows["plus/minus"].append(ms)
        draws.append(max(counts.values()))
    thumb = page.locator(_selector("param-slider", "sgd", "momentum") + " [role=slider]")
    thumb.scroll_into_view_if_needed()
    per_second: list[float] = []
    for _ in range(sizes.drags):
        bb = thumb.bounding_box()
        x, y = bb["x"] + bb["width"] / 2, bb["y"] + bb["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 6, y, steps=2)
        time.sleep(0.8)  # the preview arrives
        before = page.evaluate("window.dash_clientside.descent.stats.previewDraws")
        t0 = time.perf_counter()
        for k in range(40):
            page.mouse.move(x + 6 + (k % 20) * 4 if (k // 20) % 2 == 0 else x + 86 - (k % 20) * 4, y)
        seconds = time.perf_counter() - t0
        per_second.append((page.evaluate("window.dash_clientside.descent.stats.previewDraws") - before) / seconds)
        ms, counts = _change(page, page.mouse.up, figure, "pointerup", sizes.settle_s)
        rows["release"].append(ms)
        draws.append(max(counts.values()))
        page.click(_selector("param-down", "sgd", "momentum"))  # a new value for the next round
        time.sleep(sizes.settle_s)
    previews = page.evaluate("window.dash_clientside.descent.stats.previewMs")
    return {"rows": rows, "draws": draws, "reference": reference, "drag": per_second, "preview_ms": previews}


def _check(tab: str, result: dict) -> None:
    for name, values in result["rows"].items():
        for ms in values:
            sane(f"{tab}, {name}: change-to-paint ms", ms)
    sane(f"{tab}: reference ms", result["reference"], low=1e-3)
    require(f"{tab}: every change drawn at least once", min(result["draws"]) >= 1)
    for per_second in result["drag"]:
        sane(f"{tab}: previews drawn per second", per_second)
    require(f"{tab}: a preview drawn while dragging", len(result["preview_ms"]) > 0)
    for ms in result["preview_ms"]:
        sane(f"{tab}: a preview draw ms", ms)


def main(repeat: int | None = None, smoke: bool = False) -> None:
    from playwright.sync_api import sync_playwright

    sizes = SIZES[smoke]
    if repeat:
        sizes = dataclasses.replace(sizes, repeat=repeat, drags=max(3, repeat // 3))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = ROOT_DIR / "artifacts" / "bench-browser-server.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT_DIR, stdout=out,
                                  stderr=subprocess.STDOUT,
                                  env={k: v for k, v in os.environ.items() if k not in SUB_PATH_VARIABLES})
    try:
        if not wait_for(lambda: answers(url + "/"), [server]):
            raise SystemExit(f"bench browser: the server did not start; see {log}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            print(f"bench browser: Chromium {browser.version}, 1440×900, {sizes.repeat} changes per row; "
                  "reference: one Plotly.react of the view's map figure")
            print(f"{'view':<9}{'change':<12}{'median ms':>10}{'p95 ms':>9}{'× reference':>13}")
            for tab in sizes.views:
                result = _view(page, url, tab, sizes)
                for name, values in result["rows"].items():
                    median = statistics.median(values)
                    print(f"{tab:<9}{name:<12}{median:>10.0f}{_percentile(values, 0.95):>9.0f}"
                          f"{median / result['reference']:>13.2f}")
                print(f"{tab:<9}reference: Plotly.react of the map {result['reference']:.0f} ms; "
                      f"draws per change (most of any figure): max {max(result['draws'])}")
                ms = result["preview_ms"]
                print(f"{tab:<9}drag: {statistics.median(result['drag']):.1f} previews drawn per second "
                      f"(bounded by Playwright's mouse moves); one preview draw median "
                      f"{statistics.median(ms):.1f} ms, p95 {_percentile(ms, 0.95):.1f} ms")
                _check(tab, result)
            browser.close()
    finally:
        stop(server)
    print("goals: a typed change on screen within 150 ms median with one draw; 30 or more redraws a "
          "second while dragging")
    if smoke:
        print("smoke mode: the one-loss view only (not the 2 x 2 view), one change of each kind")
