// Clientside callbacks of Descent Lab: what runs in the browser without a request.
// playStep moves the "current step" traces (dashboard/figures.py: playback_data says which) and
// writes the step line; format is Python's "%.<p>g", so the page reads as the CLI does.
(function () {
    "use strict";

    function decode(spec, Type = Float32Array) {  // a Plotly typed array {bdata, dtype} ("f4", "i4")
        const bin = atob(spec.bdata);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
        return new Type(bytes.buffer);
    }

    function format(x, p) {  // Python's format(x, f".{p}g")
        if (Number.isNaN(x)) { return "nan"; }
        if (!Number.isFinite(x)) { return x > 0 ? "inf" : "-inf"; }
        if (x === 0) { return Object.is(x, -0) ? "-0" : "0"; }
        const [mantissa, exponent] = x.toExponential(p - 1).split("e");
        const e = parseInt(exponent, 10);
        const strip = s => (s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s);
        if (e < -4 || e >= p) {
            return strip(mantissa) + "e" + (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
        }
        return strip(x.toFixed(Math.max(0, p - 1 - e)));
    }

    const NO_STABLE_LR = "no lr is stable with momentum ≥ 1";  // a heavy ball whose velocity never decays
    // What the stability line's terms mean, for a newcomer: shown where the term is written (a
    // hover; a tap on a touch screen, assets/style.css)
    const term = (text, title) => ({namespace: "dash_html_components", type: "Abbr",
                                    props: {children: text, title: title, className: "term", tabIndex: 0}});
    const TERMS = {
        eigen: "The Hessian's eigenvalues: how sharply the loss bends along its two principal directions at this " +
               "point (the arrows on the map), largest first. MSE's are the same everywhere.",
        lamMax: "λmax: the largest eigenvalue of the loss's Hessian, how sharply the loss bends along its " +
                "steepest direction (the longer arrow on the map). Steps of lr × slope overshoot there first.",
        lamMin: "λmin: the smallest eigenvalue, how gently the loss bends along its flattest direction. " +
                "Progress along it shrinks the gap by about lr·λmin per step.",
        kappa: "κ, the condition number λmax/λmin: 1 is a round bowl; a large κ is a long, narrow valley where " +
               "no single lr suits both directions (small enough for the steep one is slow along the flat " +
               "one). Standardizing the input brings MSE's κ to 1.",
        stable: "Full-batch gradient descent on a bowl of curvature λmax overshoots more at every step, and " +
                "diverges, once lr ≥ 2/λmax; momentum μ raises that to 2(1 + μ)/λmax, Nesterov to " +
                "2(1 + μ)/((1 + 2μ)λmax). Below it, the run settles.",
    };
    const decoded = new WeakMap();

    function runsOf(play) {
        let runs = decoded.get(play);
        if (!runs) {
            runs = play.runs.map(r => ({title: r.title, w: decode(r.w), b: decode(r.b), loss: decode(r.loss),
                                        arrow: decode(r.arrow), size: decode(r.size),
                                        // the Hessian at each step (compute/curvature.py), float64
                                        lam: r.lam ? decode(r.lam, Float64Array) : null,
                                        vec: r.vec ? decode(r.vec, Float64Array) : null,
                                        bound: r.bound ? decode(r.bound, Float64Array) : null,
                                        // a schedule's lr at each step (compute/schedules.py), float64
                                        lr: r.lr ? decode(r.lr, Float64Array) : null}));
            decoded.set(play, runs);
        }
        return runs;
    }

    function graph(id) {  // a figure Plotly has finished drawing (mid-draw it has data but no full data yet)
        const outer = document.getElementById(id);
        const gd = outer && outer.querySelector(".js-plotly-plot");
        return gd && gd.data && gd._fullData && gd._fullLayout ? gd : null;
    }

    // New data for some traces of a figure (whole traces, or a few attributes of each). Scatter
    // traces move without a full redraw (Plotly's animation path, no transition): 15-25 ms a figure
    // here. Plotly.animate wipes a figure's contour or heatmap layer, though, so a figure holding a
    // loss map is drawn again with the new traces (Plotly.react: 75-135 ms for one map).
    const MAPS = new Set(["contour", "heatmap"]);
    function fast(gd, traces, data) {
        if (gd._fullData.some(t => MAPS.has(t.type))) {
            const all = gd.data.slice();
            traces.forEach((index, i) => { all[index] = Object.assign({}, gd.data[index], data[i]); });
            return Plotly.react(gd, all, gd.layout);
        }
        return Plotly.animate(gd, {data: data, traces: traces},
                              {transition: {duration: 0}, frame: {duration: 0, redraw: false}, mode: "immediate"});
    }

    // The 3D surface cannot take that path (WebGL, software-rendered on a server without a GPU):
    // it follows once the hand rests for a moment.
    const later = {};
    function settle(id, fn) {
        clearTimeout(later[id]);
        later[id] = setTimeout(fn, 150);
    }

    function shown(play, loss) {
        return play.log ? Math.log10(Math.max(loss, play.logFloor)) : loss;
    }

    function fitted(play, run, k) {
        return play.span.map(x => {
            const z = run.w[k] * x + run.b[k];
            return play.sigmoid ? 1 / (1 + Math.exp(-z)) : z;
        });
    }

    function arrowXY(run, k) {
        const x1 = run.arrow[2 * k], y1 = run.arrow[2 * k + 1];
        if (!Number.isFinite(x1) || !Number.isFinite(y1)) { return [[], []]; }
        return [[run.b[k], x1], [run.w[k], y1]];
    }

    // The Hessian's eigenvectors through step k's point, as figures.eigen_xy draws them: the
    // sharpest (λmax) ``length`` each side, the flattest half that. vec holds each step's 2 × 2
    // matrix row-major, (w, b) rows, one eigenvector per column.
    function eigenXY(run, k, length) {
        if (!run.lam || !(run.lam[2 * k] > 0)) { return [[], []]; }
        const x = [], y = [];
        [[0, length], [1, length / 2]].forEach(([i, scale], j) => {
            const vw = run.vec[4 * k + i] * scale, vb = run.vec[4 * k + 2 + i] * scale;
            if (j) { x.push(null); y.push(null); }
            x.push(run.b[k] - vb, run.b[k] + vb);
            y.push(run.w[k] - vw, run.w[k] + vw);
        });
        return [x, y];
    }

    function moveTraces(play, runs, ks, figures) {
        const t = play.traces;
        const map = graph(figures.map), surface = graph(figures.surface);
        const curve = graph(figures.curve), fit = graph(figures.fit);
        if (map) {
            const data = [], idx = [];
            runs.forEach((run, i) => {
                const base = t.perPanel * i, k = ks[i];
                data.push({x: [run.b[k]], y: [run.w[k]]});
                idx.push(base + t.current);
                if (t.arrow !== null) {  // the compare map has no arrows
                    const [ax, ay] = arrowXY(run, k);
                    data.push({x: ax, y: ay});
                    idx.push(base + t.arrow);
                }
            });
            if (play.eigen && runs.length) {  // the one-loss map: the Hessian's eigenvectors
                const [ex, ey] = eigenXY(runs[0], ks[0], play.eigen.length);
                data.push({x: ex, y: ey});
                idx.push(play.eigen.trace);
            }
            fast(map, idx, data);
        }
        if (surface && runs.length && t.surface !== null) {
            const run = runs[0], k = ks[0];
            settle(figures.surface, () => {
                // (by then the 3D figure may not be drawn yet, or be drawn without WebGL: no traces)
                if (!surface.data || surface.data.length <= t.surface) { return; }
                Plotly.restyle(surface, {x: [[run.b[k]]], y: [[run.w[k]]], z: [[shown(play, run.loss[k])]]}, [t.surface]);
            });
        }
        if (curve) {
            fast(curve, runs.map((r, i) => 2 * i + 1), runs.map((r, i) => ({x: [ks[i]], y: [r.loss[ks[i]]]})));
        }
        if (fit) {
            fast(fit, runs.map((r, i) => t.fitFirst + i), runs.map((r, i) => ({y: fitted(play, r, ks[i])})));
        }
    }

    function stepLine(play, run, k) {
        // a surface's point is (x, y), held as (bias, weight): said as x and y (figures.playback_data)
        const w = format(run.w[k], 5), b = format(run.b[k], 5);
        let line = `${run.title} · step ${k}: ` + (play.surface ? `x = ${b}, y = ${w}, ` : `w = ${w}, b = ${b}, `) +
                   `loss = ${format(run.loss[k], 6)}`;
        const lr = run.lr ? run.lr[Math.min(k, run.lr.length - 1)] : play.lr;  // the step's, where a schedule moves it
        if (run.lr) {
            line += ` · lr ${format(lr, 4)} (scheduled)`;
        }
        const sw = run.size[2 * k + 1], sb = run.size[2 * k];
        if (play.sizes && Number.isFinite(sw) && Number.isFinite(sb)) {
            line += play.surface ? ` · effective step size: x ${format(sb, 3)}, y ${format(sw, 3)}`
                                 : ` · effective step size: w ${format(sw, 3)}, b ${format(sb, 3)}`;
        }
        if (play.arrowLabel && Number.isFinite(run.arrow[2 * k]) && Number.isFinite(run.arrow[2 * k + 1])) {
            line += ` · arrow: ${play.arrowLabel}`;
        }
        let past = false;
        const parts = [line];
        if (run.lam && k < run.lam.length / 2) {
            const top = run.lam[2 * k], low = run.lam[2 * k + 1];
            parts.push(" · ", term("Hessian eigenvalues", TERMS.eigen), ` ${format(top, 4)}, ${format(low, 4)} · `,
                       term("κ", TERMS.kappa), low > 0 ? ` ${format(top / low, 3)}` : " ∞");
            const bound = run.bound ? run.bound[k] : NaN;
            if (bound === 0) {  // heavy ball with momentum ≥ 1 (compute/optimizers.py sgd_factor)
                past = true;
                parts.push(` · ${NO_STABLE_LR}`);
            } else if (Number.isFinite(bound)) {
                past = lr !== null && lr !== undefined && lr >= bound;
                parts.push(" · ", term(`SGD stable while lr < ${format(bound, 4)}`, TERMS.stable),
                           past ? ` (lr ${format(lr, 4)} is past it)` : "");
            }
        }
        return {namespace: "dash_html_components", type: "Span",
                props: {children: parts, className: past ? "step-line past-bound" : "step-line"}};
    }

    const drawnAt = new WeakMap();  // the step each view's figures show

    const previews = new WeakMap();

    function previewRuns(data) {  // per run previewed: its panel, steps, and (rows × stops) weight, bias, loss
        let runs = previews.get(data);
        if (!runs) {
            runs = data.runs.map(r => ({panel: r.panel, steps: decode(r.steps, Int32Array), w: decode(r.w),
                                        b: decode(r.b), loss: decode(r.loss)}));
            previews.set(data, runs);
        }
        return runs;
    }

    // The finite rows of stop i: the path up to a divergence. A prefix preview (epochs: ``ends``)
    // holds one column, the longest run; stop i is its rows up to step ends[i].
    function column(run, stops, i, ends) {
        const steps = [], w = [], b = [], loss = [];
        for (let r = 0; r < run.steps.length; r++) {
            if (ends && run.steps[r] > ends[i]) { break; }
            const k = ends ? r : r * stops + i;
            if (!Number.isFinite(run.w[k]) || !Number.isFinite(run.b[k]) || !Number.isFinite(run.loss[k])) { break; }
            steps.push(run.steps[r]); w.push(run.w[k]); b.push(run.b[k]); loss.push(run.loss[k]);
        }
        return {steps, w, b, loss};
    }

    // The figures a preview draws over (by element id), to put back from their data when the slider
    // returns to the value on screen: the preview never touches a figure's data.
    function touched(play) {
        return ["map", "curve", "fit"].map(role => play.figures[role]).filter(Boolean);
    }

    function redrawExact(play) {
        unhide(play);
        touched(play).forEach(id => { const gd = graph(id); if (gd) { Plotly.redraw(gd); } });
    }

    // While a slider moves, the preview redraws only SVG: each trace's line and its points are put
    // where Plotly's own axes (c2p) place them. Plotly.restyle redrew whole figures (the contour map:
    // 120 ms); Plotly.animate managed 24 frames a second for three figures; this keeps up with the
    // hand. The exact view that follows on release is drawn by Plotly from the data.
    function axes(gd, trace) {
        const full = gd._fullData[trace], layout = gd._fullLayout;
        const name = a => (a.length > 1 ? a[0] + "axis" + a.slice(1) : a + "axis");
        return [layout[name(full.xaxis)], layout[name(full.yaxis)]];
    }

    function group(gd, trace) {
        const uid = gd._fullData[trace] && gd._fullData[trace].uid;
        return uid ? gd.querySelector(".scatterlayer .trace" + CSS.escape(uid)) : null;
    }

    function place(gd, trace, xs, ys) {  // a scatter trace's line and points at (xs, ys)
        const g = group(gd, trace);
        if (!g) { return; }
        const [xa, ya] = axes(gd, trace);
        const px = xs.map(v => xa.c2p(v)), py = ys.map(v => ya.c2p(v));
        const line = g.querySelector("path.js-line");
        if (line) {
            line.setAttribute("d", px.length ? "M" + px.map((x, k) => x.toFixed(2) + "," + py[k].toFixed(2)).join("L") : "M0,0Z");
        }
        const points = g.querySelectorAll("path.point");
        if (points.length === 1) {  // a marker: moved, or hidden where the preview has no point
            points[0].style.display = px.length === 1 ? "" : "none";
            if (px.length === 1) { points[0].setAttribute("transform", `translate(${px[0]},${py[0]})`); }
        } else {  // a path's points: hidden while its line follows the hand
            points.forEach(pt => { pt.style.display = "none"; });
        }
    }

    function unhide(play) {  // the points a preview hid
        touched(play).forEach(id => {
            const gd = graph(id);
            if (gd) { gd.querySelectorAll(".scatterlayer path.point").forEach(pt => { pt.style.display = ""; }); }
        });
    }

    function drawPreview(play, data, i) {
        const t = play.traces, runs = previewRuns(data), stops = data.values.length;
        const cols = runs.map(run => column(run, stops, i, data.ends));
        const last = c => c.steps.length - 1;
        const at = (arr, c) => (last(c) >= 0 ? [arr[last(c)]] : []);
        // each previewed run at its place among the view's runs (the compare page previews one of them)
        const map = graph(play.figures.map);
        if (map) {
            cols.forEach((c, i) => {
                const base = t.perPanel * runs[i].panel;
                place(map, base + t.path, c.b, c.w);  // the path (its points hidden: the line follows)
                if (t.start !== null) { place(map, base + t.start, c.b.slice(0, 1), c.w.slice(0, 1)); }
                place(map, base + t.end, at(c.b, c), at(c.w, c));
                place(map, base + t.current, at(c.b, c), at(c.w, c));  // the step
                if (t.arrow !== null) { place(map, base + t.arrow, [], []); }
            });
        }
        // The 3D surface (WebGL) keeps torch's run on screen and follows on release.
        const curve = graph(play.figures.curve);
        if (curve) {
            cols.forEach((c, i) => {
                const p = runs[i].panel;
                place(curve, 2 * p, c.steps, c.loss);
                place(curve, 2 * p + 1, at(c.steps, c), at(c.loss, c));
            });
        }
        const fit = graph(play.figures.fit);
        if (fit) {
            cols.forEach((c, i) => place(fit, t.fitFirst + runs[i].panel, last(c) >= 0 ? play.span : [], last(c) >= 0 ? play.span.map(x => {
                const z = c.w[last(c)] * x + c.b[last(c)];
                return play.sigmoid ? 1 / (1 + Math.exp(-z)) : z;
            }) : []));
        }
        const reached = cols.map(c => c.steps.length ? c.steps[last(c)] : -1);
        const total = data.ends ? data.ends[i] : runs[0].steps[runs[0].steps.length - 1];
        if (total < 0) { return " · past the cap of optimizer steps"; }
        return reached.some(e => e < total) ? " · a run diverges: its path ends where it did" : "";
    }

    // A drag is followed outside Dash's callbacks: an input on every slider of a page (a pattern
    // that Dash resolves over the whole layout) cost ~70 ms a move here. The page's view and the
    // preview data come from the callbacks below; the slider's position from its aria-valuenow.
    // A page with a live drag has a badge (dashboard/panels.py preview_parts) that names its page
    // and the store the browser asks for a preview through.
    const live = {view: null, data: null, dragging: null, frame: 0, wanted: null, store: null};
    const stats = {previewDraws: 0, previewMs: []};  // read by the browser tests and bench browser
    const EXACT = "Exact: torch.optim's run at the values in the boxes.";

    function badgeOf(page) {
        return document.querySelector(`.engine[data-want][data-page='${CSS.escape(page || "")}']`);
    }

    function badge(text) {  // the text node Dash rendered, rewritten in place (a Dash update costs a frame)
        const el = document.querySelector(".engine[data-want]");  // a page holds one
        if (!el) { return; }
        if (el.firstChild && el.firstChild.nodeType === Node.TEXT_NODE) { el.firstChild.nodeValue = text; }
        else { window.dash_clientside.set_props(el.id, {children: text}); }
    }

    function sliderKey(element) {  // the setting whose slider ``element`` is part of, on a page with a live drag
        const host = element && element.closest(".param-slider");
        const root = host && host.closest(".param[data-stops]");
        const page = root && badgeOf(root.dataset.page);
        return page ? {key: root.dataset.key, label: root.dataset.label || root.dataset.key, host: host,
                       want: page.dataset.want} : null;
    }

    // A setting's number box, −/+ buttons and slider (dashboard/controls.py param_control) kept in
    // step in the browser: the slider moves to the stop nearest a typed value (nearest in its
    // scale: log10 on a log slider, 0 one decade below the first positive stop, as
    // compute.params.nearest_stop); −/+ write the next stop below/above the box's value; a released
    // slider writes its stop. Only the box is read by the page's callbacks.
    const BOX = "input[id^='{']";  // the number box: its ID is the setting's (a dict, as JSON)

    function control(element) {
        const root = element && element.closest && element.closest(".param[data-stops]");
        const box = root && root.querySelector(BOX);
        if (!box) { return null; }
        let id;
        try { id = JSON.parse(box.id); } catch (err) { return null; }
        // the slider's ID from the control (its element may not be drawn yet: a slider in a hidden
        // card is drawn when the card shows)
        return {stops: JSON.parse(root.dataset.stops), log: root.dataset.log === "1", box: box, boxId: id,
                sliderId: root.dataset.slider, slider: root.querySelector(".param-slider")};
    }

    function nearest(c, value) {
        const positive = c.stops.filter(s => s > 0);
        const floor = positive.length ? Math.log10(positive[0]) - 1 : 0;
        const pos = v => (c.log ? (v > 0 ? Math.max(Math.log10(v), floor) : floor) : v);
        let best = 0;
        c.stops.forEach((s, k) => { if (Math.abs(pos(s) - pos(value)) < Math.abs(pos(c.stops[best]) - pos(value))) { best = k; } });
        return best;
    }

    function step(c, value, up) {  // the index of the next stop above (below) value
        const eps = 1e-9 * Math.max(Math.abs(value), 1e-300);
        if (up) {
            const i = c.stops.findIndex(s => s > value + eps);
            return i < 0 ? c.stops.length - 1 : i;
        }
        let i = 0;
        c.stops.forEach((s, k) => { if (s < value - eps) { i = k; } });
        return i;
    }

    function numberIn(box) {
        const value = parseFloat(String(box.value).trim());
        return Number.isFinite(value) ? value : null;
    }

    function sliderAt(c) {
        const thumb = c.slider && c.slider.querySelector("[role=slider]");
        return thumb ? Number(thumb.getAttribute("aria-valuenow")) : NaN;
    }

    const sync = {
        toSlider: function (c, value) {
            const i = nearest(c, value);
            if (i !== sliderAt(c)) { window.dash_clientside.set_props(c.sliderId, {value: i}); }
        },
        toBox: function (c, i) {
            if (!(i >= 0 && i < c.stops.length)) { return; }
            if (numberIn(c.box) !== c.stops[i]) { window.dash_clientside.set_props(c.boxId, {value: c.stops[i]}); }
        },
    };

    // On a touch screen a slider takes only a drag of its thumb: a touch that lands on its track does
    // not set the value there (the slider sets it on the touch's first contact), so a swipe up or down
    // over the controls, which are most of a phone's page, scrolls the page and changes nothing. (The
    // thumb's own vertical swipe scrolls too: CSS touch-action pan-y.)
    const onTrack = event => event.target.closest && event.target.closest(".dash-slider-root")
        && !event.target.closest("[role=slider]");
    let trackTouch = false;  // a touch that began on a slider's track: the slider sees none of it
    document.addEventListener("pointerdown", event => {
        trackTouch = event.pointerType === "touch" && onTrack(event);
        if (trackTouch) { event.stopPropagation(); }
    }, true);
    document.addEventListener("touchstart", event => { if (onTrack(event)) { event.stopPropagation(); } }, true);
    for (const type of ["pointermove", "touchmove"]) {
        document.addEventListener(type, event => { if (trackTouch) { event.stopPropagation(); } }, true);
    }
    for (const type of ["pointerup", "pointercancel"]) {
        document.addEventListener(type, event => {
            if (trackTouch && event.pointerType === "touch") { trackTouch = false; event.stopPropagation(); }
        }, true);
    }

    // The top bar's links bring a page back as it was left. Leaving a page (a link, the back button, a
    // reload) keeps its query in localStorage under its path; each top-bar link to another page is then
    // that page's address with its kept query, set as the dcc.Link's href (set_props), so the navigation
    // stays Dash's, without a reload, and the page is built from its address as a shared link would be.
    // An address opened with its own query (a shared link, a room's) is what it says, whatever is kept;
    // a page's *defaults* link opens it without a query. Without localStorage (private mode) the links
    // stay the pages' plain addresses.
    const KEPT = "descent-lab:kept:";  // + the page's path
    const MAX_KEPT = 4000;  // a longer address could not be reloaded (gunicorn reads 4094 bytes of a request line)
    const navLinks = () => Array.from(document.querySelectorAll(".topbar nav a[id]"));
    function kept(path) {
        try { return localStorage.getItem(KEPT + path) || ""; } catch (e) { return ""; }
    }
    function keep(path, search) {
        if (!navLinks().some(a => a.pathname === path)) { return; }  // the top bar's pages only
        const settings = new URLSearchParams(search);
        settings.delete("lesson");  // a lesson's step is its own address's, not the page's settings
        search = settings.toString() ? "?" + settings.toString() : "";
        try {
            if (search.length > 1 && search.length <= MAX_KEPT) { localStorage.setItem(KEPT + path, search); }
            else { localStorage.removeItem(KEPT + path); }
        } catch (e) { /* no storage, or full: the links stay plain */ }
    }
    function pointLinks() {  // each link to another page: its kept query (the page shown keeps its own)
        navLinks().forEach(a => {
            if (a.pathname === window.location.pathname) { return; }
            const href = a.pathname + kept(a.pathname);
            if (a.getAttribute("href") !== href) {
                try { window.dash_clientside.set_props(a.id, {href: href}); } catch (e) { /* not drawn yet */ }
            }
        });
    }
    let seen = {path: window.location.pathname, search: window.location.search};
    function moved() {  // the address changed: a new page keeps the one left
        const now = {path: window.location.pathname, search: window.location.search};
        if (now.path !== seen.path) {
            keep(seen.path, seen.search);
            pointLinks();
        }
        seen = now;
    }
    // Dash's links, its pages' link sync and a room's follower all move through the History API
    for (const name of ["pushState", "replaceState"]) {
        const original = window.history[name];
        window.history[name] = function (...args) {
            const result = original.apply(this, args);
            moved();
            window.dispatchEvent(new Event("descent-address"));  // (a room's presenter publishes it: assets/room.js)
            return result;
        };
    }
    window.addEventListener("popstate", moved);

    // A value typed without Enter is taken when its box is left, and the page's address follows once
    // the server has checked it. A click on a link (the top bar, "open this run in Compare") or on
    // the copy icon that left the box acted on the address before that, with the value before:
    // it waits for the address to take the new value (at most 2 s: a refused value never does).
    let edited = null;  // {at, search}: a box changed, the address as it was
    document.addEventListener("change", event => {
        if (event.target.closest && event.target.closest(".controls input")) {
            edited = {at: Date.now(), search: window.location.search};
        }
    }, true);
    document.addEventListener("click", event => {
        const target = event.target.closest && event.target.closest("a[href], .copy");
        if (!target || !edited || Date.now() - edited.at > 2000 || window.location.search !== edited.search) {
            return;
        }
        event.preventDefault();
        event.stopPropagation();
        const waiting = edited;
        const retry = () => {
            if (window.location.search !== waiting.search || Date.now() - waiting.at > 2000) {
                edited = null;
                target.click();
            } else {
                setTimeout(retry, 50);
            }
        };
        retry();
    }, true);

    // A click on one of the view's tabs writes the tab in the address at once: the view's own sync
    // (dashboard/panels.py URL_SYNC_JS) writes it once the server has drawn the tab's figures, a
    // second or so later, and a room's followers waited that long for a new tab.
    // The view's tabs (dashboard/pages/toy.py: data-tabs, their values in order, the default): a tab
    // element's value, the one on screen, and a value written into an address's query as a link holds
    // it (the default left out). Used here, by the view's link sync and by a room's follower.
    const tabs = {
        node: () => document.querySelector("[data-tabs]"),
        valueOf: (node, tab) => node.dataset.values.split(" ")[[...node.querySelectorAll(".tab")].indexOf(tab)],
        shown: node => tabs.valueOf(node, node.querySelector(".tab--selected")),
        write: (node, params, value) => {
            if (value === node.dataset.default) { params.delete("tab"); } else { params.set("tab", value); }
        },
    };
    window.descentTabs = tabs;
    document.addEventListener("click", event => {
        const tab = event.target.closest && event.target.closest("[data-tabs] .tab");
        const node = tab && tab.closest("[data-tabs]");
        const value = node && tabs.valueOf(node, tab);
        if (!value) { return; }
        const url = new URL(window.location.href);
        tabs.write(node, url.searchParams, value);
        window.history.replaceState(window.history.state, "", url.pathname + url.search);
    }, true);
    window.addEventListener("pagehide", () => keep(seen.path, seen.search));
    // the link to the page shown keeps it as it is (Dash would open its address: its older settings)
    document.addEventListener("click", event => {
        const link = event.target.closest && event.target.closest(".topbar nav a[id]");
        if (link && link.pathname === window.location.pathname && event.button === 0
            && !(event.metaKey || event.ctrlKey || event.shiftKey || event.altKey)) {
            event.preventDefault();
            event.stopPropagation();
        }
    }, true);
    const navDrawn = new MutationObserver(() => {  // the top bar is drawn by Dash after this script runs
        if (navLinks().length) { navDrawn.disconnect(); pointLinks(); }
    });
    navDrawn.observe(document, {childList: true, subtree: true});

    // The presentation layout: the controls fold away and the figures fill the screen (assets/style.css
    // body.presenting); each graph follows its container's new size (dcc.Graph is responsive).
    document.addEventListener("click", event => {
        const toggle = event.target.closest && event.target.closest("#present-toggle");
        if (!toggle) { return; }
        const on = document.body.classList.toggle("presenting");
        const icon = document.createElement("span");
        icon.className = "icon icon-present";
        icon.setAttribute("aria-hidden", "true");
        toggle.replaceChildren(...(on ? ["✕ leave presentation"] : [icon, "present"]));
        toggle.blur();  // a clicker's Enter or Space would press it again and leave the presentation
        layDeck();
        document.querySelectorAll(".js-plotly-plot").forEach(adapt);
    });

    // Presenting, a page's figures are a deck of rows (the layouts' .deck): the deck fills the screen
    // under the playback, one row to a screen where two would squeeze each plot below what reads from
    // the back of a room (a plot area of 300 × 220 px needs a row of about 330 px), two where they fit.
    // PageDown (a presenter's clicker) or "next screen" shows the next row: the maps, then the curves.
    const ROW_MIN = 330;
    const root = document.documentElement;
    function activeDeck() {
        return Array.from(document.querySelectorAll(".deck")).find(d => d.getClientRects().length) || null;
    }
    function layDeck() {
        const deck = activeDeck();
        if (!document.body.classList.contains("presenting") || !deck) {
            root.style.removeProperty("--deck");
            root.style.removeProperty("--row");
            return;
        }
        const top = deck.getBoundingClientRect().top + window.scrollY;
        const height = Math.max(2 * 120, Math.floor(window.innerHeight - top - 6));
        const row = Math.floor(height / (height >= 2 * ROW_MIN && deck.children.length > 1 ? 2 : 1));
        const was = parseFloat(root.style.getPropertyValue("--row")) || row;
        const screen = Math.round(deck.scrollTop / was);  // the screen shown, kept when the rows change size
        if (root.style.getPropertyValue("--deck") !== `${height}px`) { root.style.setProperty("--deck", `${height}px`); }
        if (root.style.getPropertyValue("--row") !== `${row}px`) { root.style.setProperty("--row", `${row}px`); }
        const tops = screens(deck);
        const snap = tops.reduce((best, t) => (Math.abs(t - screen * row) < Math.abs(best - screen * row) ? t : best), 0);
        if (Math.abs(deck.scrollTop - snap) > 2) { deck.scrollTo({top: snap}); }  // (a bar shown or hidden above)
        const next = document.getElementById("present-next");
        if (next) { next.hidden = tops.length < 2; }
        const fill = document.getElementById("map-fill");  // only where there is a map to fill
        if (fill) { fill.hidden = !Array.from(deck.querySelectorAll(".js-plotly-plot")).some(gd => gd._descentAnchors); }
    }
    function screens(deck) {  // where each screen of the deck starts: each row's top (a double row's two)
        const row = parseFloat(root.style.getPropertyValue("--row")) || 1;
        const tops = [];
        Array.from(deck.children).forEach(child => {
            for (let y = 0; y < child.offsetHeight - row / 2; y += row) { tops.push(child.offsetTop + y); }
        });
        const end = deck.scrollHeight - deck.clientHeight;  // the last screen ends with the deck
        return [...new Set(tops.map(t => Math.min(t, end)))];
    }
    function flip(by) {
        const deck = activeDeck();
        if (!deck) { return; }
        const tops = screens(deck), at = deck.scrollTop;
        const ahead = by > 0 ? tops.find(t => t > at + 2) : tops.filter(t => t < at - 2).pop();
        deck.scrollTo({top: ahead === undefined ? (by > 0 ? 0 : tops[tops.length - 1]) : ahead});
    }
    document.addEventListener("keydown", event => {
        if (!document.body.classList.contains("presenting") || !["PageDown", "PageUp"].includes(event.key)) { return; }
        const t = event.target;
        if (t && t.closest && t.closest("input, textarea, select, [role=slider]")) { return; }  // the control's own keys
        event.preventDefault();
        flip(event.key === "PageDown" ? 1 : -1);
    });
    document.addEventListener("click", event => {
        if (event.target.closest && event.target.closest("#present-next")) { flip(1); }
    });
    let deckFrame = 0;  // laid out again when the page changes under it (a tab, a message, the room's bar)
    const relayDeck = () => {
        if (!deckFrame && document.body.classList.contains("presenting")) {
            deckFrame = requestAnimationFrame(() => { deckFrame = 0; layDeck(); });
        }
    };
    window.addEventListener("resize", relayDeck);

    // Maps keep equal scale (dashboard/figures.py EQUAL_SCALE: one unit of bias as long as one unit
    // of weight); "maps: fill" lets them fill their space instead, remembered in this browser.
    const FILL = "descent-fill-maps";
    let fillMaps = false;
    try { fillMaps = localStorage.getItem(FILL) === "1"; } catch (e) { fillMaps = false; }
    function fillButton() {
        const button = document.getElementById("map-fill");
        const text = fillMaps ? "maps: equal scale" : "maps: fill";
        if (button && button.textContent !== text) { button.textContent = text; }  // (a change is a mutation)
    }
    function applyFill(gd) {
        const keys = Object.keys(gd.layout).filter(k => /^yaxis\d*$/.test(k));
        const anchored = keys.filter(k => gd.layout[k] && gd.layout[k].scaleanchor);
        if (anchored.length) { gd._descentAnchors = Object.fromEntries(anchored.map(k => [k, gd.layout[k].scaleanchor])); }
        const saved = gd._descentAnchors;
        if (!saved) { return; }
        if (fillMaps && anchored.length) {
            Plotly.relayout(gd, Object.fromEntries(anchored.map(k => [`${k}.scaleanchor`, null])));
        } else if (!fillMaps && !anchored.length) {
            Plotly.relayout(gd, Object.fromEntries(Object.entries(saved).map(([k, v]) => [`${k}.scaleanchor`, v])));
        }
    }
    document.addEventListener("click", event => {
        if (!event.target.closest || !event.target.closest("#map-fill")) { return; }
        fillMaps = !fillMaps;
        try { localStorage.setItem(FILL, fillMaps ? "1" : "0"); } catch (e) { /* private mode: this page only */ }
        fillButton();
        document.querySelectorAll(".js-plotly-plot").forEach(gd => { if (gd._fullLayout) { applyFill(gd); } });
    });

    // The lessons menu folds once a lesson is picked, or on a click elsewhere
    document.addEventListener("click", event => {
        const menu = document.getElementById("lessons-menu");
        if (!menu || !menu.open) { return; }
        const inside = event.target.closest && event.target.closest("#lessons-menu");
        if (!inside || (event.target.closest("a") && inside)) { menu.open = false; }
    });
    // The lesson being written (dashboard/player.py) is kept in this browser as it changes, and comes
    // back with the page; where the browser keeps nothing, it lasts as long as the tab
    const DRAFT = "descent-lesson-draft";
    let draftShown = null;
    new MutationObserver(() => {
        const box = document.getElementById("lesson-draft");
        if (!box || box === draftShown) { return; }
        draftShown = box;
        let kept = null;
        try { kept = localStorage.getItem(DRAFT); } catch (e) { kept = null; }
        if (kept && kept !== box.value) { window.dash_clientside.set_props("lesson-draft", {value: kept}); }
    }).observe(document.body, {childList: true, subtree: true});
    document.addEventListener("input", event => {
        if (event.target.id !== "lesson-draft") { return; }
        try { localStorage.setItem(DRAFT, event.target.value); } catch (e) { /* this tab only */ }
    });
    // A lesson's ◀ ▶ on the arrow keys, where the keys move nothing else: not in a box, a slider, a
    // menu or the tabs (dashboard/player.py)
    document.addEventListener("keydown", event => {
        if (!["ArrowLeft", "ArrowRight"].includes(event.key) || event.altKey || event.ctrlKey || event.metaKey) { return; }
        const t = event.target;
        if (t && t.closest && t.closest("input, textarea, select, [role=slider], [role=tab], [role=listbox], .dash-dropdown, .tab")) { return; }
        const link = document.querySelector(`#lesson-bar:not([hidden]) a.${event.key === "ArrowLeft" ? "lesson-prev" : "lesson-next"}`);
        if (link) { event.preventDefault(); link.click(); }
    });

    // A page's lead (what it shows, what to try first) stays folded once its reader folds it: per
    // page, in this browser (dashboard/leads.py)
    const LEAD = "descent-lead-folded-";
    const leads = document.getElementsByClassName("lead");  // live: no query per mutation
    new MutationObserver(() => {
        for (const d of leads) {
            if (d.dataset.seen || !d.dataset.lead) { continue; }
            d.dataset.seen = "1";
            let folded = null;
            try { folded = localStorage.getItem(LEAD + d.dataset.lead); } catch (e) { folded = null; }
            // a phone opens it folded (its title still says what the page is): the figures come first
            if (folded === "1" || (folded === null && window.matchMedia("(max-width: 600px)").matches)) { d.open = false; }
        }
    }).observe(document.body, {childList: true, subtree: true});
    document.addEventListener("toggle", event => {
        const d = event.target;
        if (!d.classList || !d.classList.contains("lead") || !d.dataset.lead) { return; }
        try { localStorage.setItem(LEAD + d.dataset.lead, d.open ? "0" : "1"); } catch (e) { /* this page only */ }
    }, true);

    // A map's colour bar beside its plot area: equal scale shrinks the area, and a bar placed by the
    // figure's width stood far to its right.
    function barBeside(gd) {
        const size = gd._fullLayout._size;
        const update = {"colorbar.x": [], "colorbar.y": [], "colorbar.len": []}, traces = [];
        let skipped = 0;
        gd._fullData.forEach((t, i) => {
            if (t.type !== "contour" || t.showscale === false || !t.visible || t.visible === "legendonly") { return; }
            const xa = gd._fullLayout[(t.xaxis || "x").replace("x", "xaxis")];
            const ya = gd._fullLayout[(t.yaxis || "y").replace("y", "yaxis")];
            if (!xa || !ya) { return; }
            const x = (xa._offset + xa._length + 8 - size.l) / size.w;
            const y = 1 - (ya._offset + ya._length / 2 - size.t) / size.h, len = ya._length / size.h;
            const drawn = gd.querySelectorAll(".colorbar")[traces.length + skipped];
            const at = drawn && drawn.getBoundingClientRect(), plot = gd.getBoundingClientRect();
            // beside it already (within 40 px of its right edge, as long as it): left as it is (moving a
            // bar moves the margin, and so the plot; a bar chasing its plot never settled)
            if (at && at.left - plot.left - (xa._offset + xa._length) >= 0 && at.left - plot.left - (xa._offset + xa._length) <= 40
                && Math.abs(at.top - plot.top - ya._offset) <= 40) {
                skipped += 1;
                return;
            }
            traces.push(i);
            update["colorbar.x"].push(x);
            update["colorbar.y"].push(y);
            update["colorbar.len"].push(len);
        });
        if (traces.length) {
            Plotly.restyle(gd, {...update, "colorbar.xanchor": "left", "colorbar.yanchor": "middle",
                                "colorbar.lenmode": "fraction"}, traces);
        }
    }

    // A legend at the figure's foot (dashboard/figures.py FOOT_LEGEND) stays clear of the x axis's
    // ticks and title: where larger text (presenting) or more rows of legend need it, the bottom
    // margin grows; back to the figure's own margin where they no longer do.
    function legendClear(gd) {
        const legend = gd.querySelector(".legend"), layout = gd._fullLayout;
        if (!legend || !layout.legend || layout.legend.yref !== "container") { return; }
        if (gd._descentLayout !== gd.layout) {  // a figure from the server: its own margin
            gd._descentLayout = gd.layout;
            gd._descentFoot = layout.margin.b;
        }
        const axis = Array.from(gd.querySelectorAll("[class*=xtick] text, [class*=g-xtitle] text"))
            .map(t => t.getBoundingClientRect()).filter(r => r.height > 0);
        if (!axis.length) { return; }
        const lowest = Math.max(...axis.map(r => r.bottom)), top = legend.getBoundingClientRect().top;
        const want = Math.max(gd._descentFoot, Math.ceil(layout.margin.b + lowest + 4 - top));
        if (Math.abs(want - layout.margin.b) > 2) { Plotly.relayout(gd, {"margin.b": want}); }
    }

    // Tick labels never overlap: an axis whose labels run into each other (a narrow plot, the
    // presentation's larger text) gets fewer ticks. Plotly places ticks by the axis's length, not by
    // its labels' size: a log axis labelled every digit ran "0.4 0.5 0.6 …" together.
    const LOG_STEPS = ["D1", "D2", 1, 2, 3, 5, 10];
    function thinTicks(gd) {
        const layout = gd._fullLayout, update = {};
        Object.keys(layout).filter(k => /^[xy]axis\d*$/.test(k)).forEach(name => {
            const ax = layout[name];
            if (!ax || !ax._id || !["linear", "log"].includes(ax.type)) { return; }
            const labels = Array.from(gd.querySelectorAll(`.${ax._id}tick text`))
                .map(t => t.getBoundingClientRect()).filter(r => r.width > 0)
                .sort((a, b) => (ax._id[0] === "x" ? a.left - b.left : a.top - b.top));
            const crowded = labels.some((r, i) => i > 0 && (ax._id[0] === "x" ? labels[i - 1].right + 2 > r.left
                                                                               : labels[i - 1].bottom > r.top + 1));
            if (!crowded) { return; }
            if (ax.type === "log") {
                const at = LOG_STEPS.indexOf(ax.dtick);
                if (at >= 0 && at < LOG_STEPS.length - 1) { update[`${name}.dtick`] = LOG_STEPS[at + 1]; }
                else if (at < 0 && typeof ax.dtick === "number") { update[`${name}.dtick`] = Math.ceil(ax.dtick * 2); }
            } else if (labels.length > 2) {
                update[`${name}.nticks`] = Math.max(2, Math.floor(labels.length / 2));
            }
        });
        if (Object.keys(update).length) { Plotly.relayout(gd, update); }
    }

    // ... and the figures' text grows (ticks, legends, titles: Plotly lays them out again). A figure
    // that Dash draws anew while presenting gets the larger text after its draw.
    const PRESENT_FONT = 16;
    function presentFont(gd) {
        const want = document.body.classList.contains("presenting") ? PRESENT_FONT : undefined;
        const has = gd.layout.font && gd.layout.font.size;
        if (has !== want && !(want === undefined && has === null)) {
            Plotly.relayout(gd, {"font.size": want === undefined ? null : want});
        }
    }

    // On a phone the 2 × 2 maps stack in one column: side by side they were slivers.
    const PHONE_PX = 600;
    function stackOnPhone(gd) {
        if (window.innerWidth > PHONE_PX || !gd.closest("#all-maps-figure") || gd.layout.meta === "stacked") { return; }
        const maps = gd._fullData.map((t, i) => (t.type === "contour" ? i : -1)).filter(i => i >= 0);
        const n = maps.length;
        if (!n) { return; }
        const layout = {meta: "stacked"}, bars = {"colorbar.x": [], "colorbar.y": [], "colorbar.len": []};
        maps.forEach((_, i) => {
            const s = i === 0 ? "" : String(i + 1), top = 1 - i / n - 0.035, bottom = 1 - (i + 1) / n + 0.03;
            layout[`xaxis${s}.domain`] = [0, 0.8];
            layout[`yaxis${s}.domain`] = [bottom, top];
            layout[`xaxis${s}.title.text`] = "bias b";
            layout[`yaxis${s}.title.text`] = "weight w";
            layout[`annotations[${i}].x`] = 0.4;
            layout[`annotations[${i}].y`] = top;
            bars["colorbar.x"].push(0.84);
            bars["colorbar.y"].push((top + bottom) / 2);
            bars["colorbar.len"].push(0.8 / n);
        });
        Plotly.update(gd, bars, layout, maps);
    }

    // On a phone the controls come after the figures: while a setting's slider or − / + is in use
    // with the map out of sight, the map comes into view over the page (at the top of the screen, or
    // at its foot when the control is in the top half) and follows the drag; it goes back a moment
    // after the last change. The page under it stays still (its row keeps its height).
    const PEEK_MS = 1500;
    let peeking = null, peekTimer = 0;
    function shownMap() {
        return Array.from(document.querySelectorAll("#map-figure, #compare-map")).find(m => m.getClientRects().length);
    }
    function peek(event) {
        const control = window.innerWidth <= PHONE_PX && event.target.closest
            && event.target.closest(".controls .param [role=slider], .controls .param .nudge");
        if (!control) { return; }
        clearTimeout(peekTimer);
        const map = shownMap();
        if (peeking || !map) { return; }
        const r = map.getBoundingClientRect();
        if (r.bottom > 60 && r.top < window.innerHeight - 60) { return; }  // in sight already
        const row = map.parentElement;
        row.style.minHeight = `${row.offsetHeight}px`;
        const high = control.getBoundingClientRect().top < window.innerHeight / 2;
        peeking = {map, row};
        map.classList.add("peek", high ? "peek-foot" : "peek-top");
    }
    function unpeekSoon() {
        if (!peeking) { return; }
        clearTimeout(peekTimer);
        peekTimer = setTimeout(() => {
            peeking.map.classList.remove("peek", "peek-foot", "peek-top");
            peeking.row.style.minHeight = "";
            peeking = null;
        }, PEEK_MS);
    }
    document.addEventListener("pointerdown", peek, true);
    for (const type of ["pointerup", "pointercancel"]) {
        document.addEventListener(type, unpeekSoon, true);
    }

    // ... and a title wider than its figure gets smaller text (it ran off both sides on a phone, or
    // in the presentation's larger text).
    function fitTitle(gd) {
        const title = gd.querySelector(".gtitle");
        if (!title) { return; }
        const room = gd._fullLayout.width - 16, wide = title.getBBox().width;
        if (wide > room) {
            const size = Math.max(9, Math.floor(gd._fullLayout.title.font.size * room / wide));
            Plotly.relayout(gd, {"title.font.size": size});
        }
    }

    // The camera icon's file is named after the figure and the view's settings (its link), not
    // "newplot.png"; Export for slides adds a caption.
    function appRoot() {  // the app's path ("/lab/" under a sub-path), as assets/room.js reads it
        try { return JSON.parse(document.getElementById("_dash-config").textContent).requests_pathname_prefix || "/"; } catch (e) { return "/"; }
    }
    function imageName(gd) {
        const outer = gd.closest("[id]:not(.js-plotly-plot)");
        const query = new URLSearchParams(window.location.search);
        const parts = [...query.entries()].map(([k, v]) => `${k}${v}`.replace(/[^A-Za-z0-9.-]+/g, ""));
        const root = appRoot();
        const path = window.location.pathname.startsWith(root) ? window.location.pathname.slice(root.length) : "";
        const page = path.replace(/\//g, "") || "toy";
        const name = ["descent-lab", page, outer ? outer.id.replace(/-figure$/, "") : "figure", ...parts].join("_");
        if (gd._context && gd._context.toImageButtonOptions) { gd._context.toImageButtonOptions.filename = name.slice(0, 180); }
    }
    document.addEventListener("pointerdown", event => {  // named as the view is when the icon is pressed
        const button = event.target.closest && event.target.closest(".modebar-btn");
        const gd = button && button.closest(".js-plotly-plot");
        if (gd) { imageName(gd); }
    }, true);

    // A map's ranges as the server asked for them (layout.meta.ranges, dashboard/figures.py), set again
    // once per new figure where they came out otherwise: a new map drawn over another (a surface chosen
    // in place of the neuron) sometimes had Plotly widen its x range to fill the space instead of
    // narrowing the space to keep the scale equal. Once: a person's zoom afterwards stays.
    function squareOnce(gd) {
        const meta = gd.layout.meta, ranges = meta && meta.ranges;
        if (!ranges || gd._descentSquared === meta) { return; }
        gd._descentSquared = meta;
        const update = {};
        for (const [axis, range] of Object.entries(ranges)) {
            const now = gd._fullLayout[axis] && gd._fullLayout[axis].range;
            const tolerance = 1e-6 * Math.abs(range[1] - range[0]);
            if (now && (Math.abs(now[0] - range[0]) > tolerance || Math.abs(now[1] - range[1]) > tolerance)) {
                update[`${axis}.range`] = range.slice();
            }
        }
        if (Object.keys(update).length) { Plotly.relayout(gd, update); }
    }

    function adapt(gd) {  // after every draw of a figure: the presentation's text, a phone's column
        if (!gd.layout || !gd._fullLayout) { return; }
        squareOnce(gd);
        presentFont(gd);
        stackOnPhone(gd);
        fitTitle(gd);
        applyFill(gd);
        barBeside(gd);
        thinTicks(gd);
        legendClear(gd);
    }
    fillButton();
    new MutationObserver(() => {
        relayDeck();
        fillButton();
        document.querySelectorAll(".js-plotly-plot").forEach(gd => {
            if (!gd._descentAdapt && gd._fullLayout) {
                gd._descentAdapt = true;
                gd.on("plotly_afterplot", () => adapt(gd));
                adapt(gd);
            }
        });
    }).observe(document.body, {childList: true, subtree: true});

    document.addEventListener("click", event => {
        const button = event.target.closest && event.target.closest(".nudge");
        const c = button && control(button);
        if (!c) { return; }
        const value = numberIn(c.box);
        if (value === null) { return; }
        sync.toBox(c, step(c, value, button.classList.contains("nudge-up")));  // the slider follows the box
    });
    // the slider follows the box: a typed value (Dash takes it on Enter or blur), or one a callback
    // wrote (a preset, a click on the map, a duplicated run). React writes a box's value attribute
    // with its value; typing alone does not.
    new MutationObserver(records => {
        records.forEach(record => {
            const box = record.target;
            const c = box.matches(BOX) && control(box);
            const value = c && numberIn(box);
            if (c && value !== null) { sync.toSlider(c, value); }
        });
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ["value"]});
    function writeStop(c) {  // a released slider's stop into its box, once the slider has moved
        if (c) { requestAnimationFrame(() => sync.toBox(c, sliderAt(c))); }
    }
    let grabbed = null;  // the slider a pointer holds: released anywhere, it writes its stop
    document.addEventListener("pointerdown", event => {
        grabbed = control(event.target.closest && event.target.closest(".param-slider"));
    }, true);
    document.addEventListener("pointerup", () => { writeStop(grabbed); grabbed = null; }, true);
    const KEYS = /^(Arrow|Page)|^(Home|End)$/;  // the keys that move a focused slider
    document.addEventListener("keyup", event => {
        if (KEYS.test(event.key)) { writeStop(control(event.target.closest && event.target.closest(".param-slider"))); }
    }, true);

    function drawLive() {
        live.frame = 0;
        const d = live.dragging, view = live.view, data = live.data;
        if (!d || !view || !view.play) { return; }
        if (!data || data.key !== d.key || data.query !== view.query) {
            if (!live.wanted || live.wanted.key !== d.key || live.wanted.query !== view.query) {
                live.wanted = {key: d.key, query: view.query};
                window.dash_clientside.set_props(d.want, {data: live.wanted});
                badge(`Preview: running ${d.label} at every stop…`);
            }
            return;
        }
        if (data.note) { badge(`${d.label}: ${data.note}.`); return; }
        const onScreen = data.values.indexOf(view.state[d.key]);
        if (d.index === d.drawn) { return; }
        d.drawn = d.index;
        if (d.index === onScreen) { redrawExact(view.play); badge(EXACT); return; }
        const started = performance.now();
        const note = drawPreview(view.play, data, d.index);
        stats.previewDraws += 1;
        stats.previewMs.push(performance.now() - started);
        if (stats.previewMs.length > 2000) { stats.previewMs.splice(0, 1000); }  // a long session
        badge(`Preview (batched engine): ${d.label} = ${format(data.values[d.index], 4)}${note}` +
              " · release for torch.optim's exact run.");
    }

    function follow(index) {
        if (!live.dragging || !Number.isFinite(index)) { return; }
        live.dragging.index = index;
        if (!live.frame) { live.frame = requestAnimationFrame(drawLive); }
    }

    document.addEventListener("pointerdown", event => {
        const found = sliderKey(event.target);
        if (!found) { return; }
        live.dragging = Object.assign(found, {index: null, drawn: null});
    }, true);
    document.addEventListener("pointerup", () => { live.dragging = null; }, true);
    new MutationObserver(records => {
        const d = live.dragging;
        if (!d) { return; }
        for (const record of records) {
            if (d.host.contains(record.target)) {
                follow(Number(record.target.getAttribute("aria-valuenow")));
            }
        }
    }).observe(document, {subtree: true, attributes: true, attributeFilter: ["aria-valuenow"]});

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        descent: {
            format: format,
            stats: stats,
            // A new run over the maps on screen (dashboard/figures.py trace_update): its traces
            // replace the old ones; the maps are not sent again.
            newPaths: function (update) {
                const gd = update && graph(update.figure);
                if (!gd || !Array.isArray(update.traces)) { return window.dash_clientside.no_update; }
                return fast(gd, update.traces, update.data).then(() => update.traces.length);
            },
            afterPaint: function (value) {  // value, once the browser has painted what came with it
                return new Promise(resolve => requestAnimationFrame(() => setTimeout(() => resolve(value), 0)));
            },
            previewArrived: function (view, data) {  // a new exact view, or a slider's preview data
                const context = window.dash_clientside.callback_context, store = context.inputs_list[1].id;
                if (live.store !== store) {  // another page: its previews are not this one's
                    Object.assign(live, {store: store, data: null, wanted: null});
                }
                if (context.triggered_id === store) {
                    live.data = data;
                    if (live.dragging) { live.dragging.drawn = null; drawLive(); }
                    return window.dash_clientside.no_update;
                }
                if (live.view && live.view.play) { unhide(live.view.play); }
                live.view = view;
                badge(EXACT);  // the badge's text node may hold a preview's words that Dash does not know of
                return EXACT;
            },
            // The lesson writer's "+ this view as a step" (dashboard/player.py): the page and its settings
            // as the address holds them now (within the app: without its base path; no lesson), appended
            // to the draft as a step to write
            addStep: function (clicks, draft) {
                const root = appRoot();
                const params = new URLSearchParams(window.location.search);
                params.delete("lesson");
                let path = window.location.pathname;
                if (root !== "/" && path.startsWith(root)) { path = "/" + path.slice(root.length); }
                const view = path + (params.toString() ? "?" + params.toString() : "");
                const quote = text => "'" + text.replace(/'/g, "''") + "'";
                const link = [...document.querySelectorAll(".topbar nav a")].find(a => a.pathname === window.location.pathname);
                const page = link ? link.textContent.trim().toLowerCase() : "view";
                let text = (draft || "").replace(/\s*$/, "\n");
                const count = (text.match(/^\s*- title:/gm) || []).length + 1;
                if (!/^steps:/m.test(text)) { text += "steps:\n"; }
                text += `  - title: ${quote(`Step ${count}, the ${page}`)}\n    view: ${quote(view)}\n` +
                        "    text: What this view shows.\n    try: What to change.\n    notice: What to look for.\n";
                try { localStorage.setItem(DRAFT, text); } catch (e) { /* this tab only */ }
                return text;
            },
            // Beside the lr control: the curvature at the playback step, its condition number and SGD's
            // stable lr there; each term explained where it is written (a hover, a long press)
            stability: function (step, view) {
                const play = view && view.play;
                if (!play || !Array.isArray(play.runs) || !play.runs.length) { return ""; }
                const run = runsOf(play)[0];
                if (!run.lam) { return ""; }
                const last = run.lam.length / 2 - 1;
                const k = (step === null || step === undefined) ? last : Math.max(0, Math.min(Math.round(step), last));
                const top = run.lam[2 * k], low = run.lam[2 * k + 1];
                const parts = [`${run.title} at step ${k}: Hessian `,
                               term("λmax", TERMS.lamMax), ` ${format(top, 4)}, `,
                               term("λmin", TERMS.lamMin), ` ${format(low, 4)}; `,
                               term("κ", TERMS.kappa), low > 0 ? ` ${format(top / low, 3)}.` : " ∞ (flat along one direction)."];
                const bound = run.bound ? run.bound[k] : NaN;
                let past = false;
                if (bound === 0) {
                    past = true;
                    parts.push(` ${NO_STABLE_LR}: the velocity never decays.`);
                } else if (Number.isFinite(bound)) {
                    past = play.lr !== null && play.lr >= bound;
                    parts.push(" SGD is ", term(`stable while lr < ${format(bound, 4)}`, TERMS.stable),
                               past ? `: lr ${format(play.lr, 4)} is past it.` : ".");
                } else if (run.bound) {
                    parts.push(" No curvature here, so no bound on lr.");
                } else {
                    parts.push(" (The lr bound is SGD's; Adam's is on its preconditioned sharpness.)");
                }
                return {namespace: "dash_html_components", type: "Span",
                        props: {children: parts, className: past ? "stability past-bound" : "stability"}};
            },
            playStep: function (step, view) {
                const nu = window.dash_clientside.no_update;
                const play = view && view.play;
                if (!play || !Array.isArray(play.runs)) { return nu; }
                const runs = runsOf(play);
                const ks = runs.map(r => {
                    const last = r.loss.length - 1;
                    return (step === null || step === undefined) ? last : Math.max(0, Math.min(Math.round(step), last));
                });
                const drawn = drawnAt.has(play) ? drawnAt.get(play) : play.step;
                if (step !== drawn && play.figures) {  // the render drew its own step: nothing to move
                    moveTraces(play, runs, ks, play.figures);
                }
                drawnAt.set(play, step);
                return runs.map((r, i) => stepLine(play, r, ks[i]));
            },
        },
    });
})();
