// Clientside callbacks of Descent Lab: what runs in the browser without a request.
// playStep moves the "current step" traces (dashboard/figures.py: playback_data says which) and
// writes the step line; format is Python's "%.<p>g", so the page reads as the CLI does.
(function () {
    "use strict";

    function decode(spec) {  // a Plotly typed array {bdata, dtype: "f4"} as a Float32Array
        const bin = atob(spec.bdata);
        const bytes = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
        return new Float32Array(bytes.buffer);
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

    const decoded = new WeakMap();

    function runsOf(play) {
        let runs = decoded.get(play);
        if (!runs) {
            runs = play.runs.map(r => ({title: r.title, w: decode(r.w), b: decode(r.b), loss: decode(r.loss),
                                        arrow: decode(r.arrow), size: decode(r.size)}));
            decoded.set(play, runs);
        }
        return runs;
    }

    function graph(id) {
        const outer = document.getElementById(id);
        const gd = outer && outer.querySelector(".js-plotly-plot");
        return gd && gd.data ? gd : null;
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

    function moveTraces(play, runs, ks, figures) {
        const t = play.traces;
        const map = graph(figures.map), surface = graph(figures.surface);
        const curve = graph(figures.curve), fit = graph(figures.fit);
        if (map) {
            const xs = [], ys = [], idx = [];
            runs.forEach((run, i) => {
                const base = t.perPanel * i, k = ks[i], [ax, ay] = arrowXY(run, k);
                xs.push([run.b[k]], ax); ys.push([run.w[k]], ay); idx.push(base + t.current, base + t.arrow);
            });
            Plotly.restyle(map, {x: xs, y: ys}, idx);
        }
        if (surface && runs.length) {
            const run = runs[0], k = ks[0];
            Plotly.restyle(surface, {x: [[run.b[k]]], y: [[run.w[k]]], z: [[shown(play, run.loss[k])]]},
                           [t.surface]);
        }
        if (curve) {
            Plotly.restyle(curve, {x: runs.map((r, i) => [ks[i]]), y: runs.map((r, i) => [r.loss[ks[i]]])},
                           runs.map((r, i) => 2 * i + 1));
        }
        if (fit) {
            Plotly.restyle(fit, {y: runs.map((r, i) => fitted(play, r, ks[i]))},
                           runs.map((r, i) => t.fitFirst + i));
        }
    }

    function stepLine(play, run, k) {
        let line = `${run.title} · step ${k}: w = ${format(run.w[k], 5)}, b = ${format(run.b[k], 5)}, ` +
                   `loss = ${format(run.loss[k], 6)}`;
        const sw = run.size[2 * k + 1], sb = run.size[2 * k];
        if (play.sizes && Number.isFinite(sw) && Number.isFinite(sb)) {
            line += ` · effective step size: w ${format(sw, 3)}, b ${format(sb, 3)}`;
        }
        if (play.arrowLabel && Number.isFinite(run.arrow[2 * k]) && Number.isFinite(run.arrow[2 * k + 1])) {
            line += ` · arrow: ${play.arrowLabel}`;
        }
        return {namespace: "dash_html_components", type: "Span", props: {children: line, className: "step-line"}};
    }

    const drawnAt = new WeakMap();  // the step each view's figures show

    window.dash_clientside = Object.assign({}, window.dash_clientside, {
        descent: {
            format: format,
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
