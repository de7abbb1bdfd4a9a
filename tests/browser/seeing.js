// What a person sees of a page's figures (tests/browser/conftest.py `seen`): each plot area's size and
// box, each colour bar's box, the text boxes that overlap inside a figure, and the text that the
// viewport or a scrolled container (the presentation's deck) cuts. A figure out of sight is left out.
(() => {
    const W = window.innerWidth, H = window.innerHeight;
    const box = r => ({x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height)});
    const shown = e => { const s = getComputedStyle(e); return s.display !== "none" && s.visibility !== "hidden" && e.getClientRects().length; };
    const apart = (a, b) => a.right <= b.left + 1 || b.right <= a.left + 1 || a.bottom <= b.top + 1 || b.bottom <= a.top + 1;
    function view(e) {  // the part of the screen where e can be seen: the viewport and every clipping ancestor
        let v = {left: 0, top: 0, right: W, bottom: H};
        for (let a = e.parentElement; a; a = a.parentElement) {
            const s = getComputedStyle(a);
            if (/(auto|scroll|hidden)/.test(s.overflowY + s.overflowX)) {
                const r = a.getBoundingClientRect();
                v = {left: Math.max(v.left, r.left), top: Math.max(v.top, r.top),
                     right: Math.min(v.right, r.right), bottom: Math.min(v.bottom, r.bottom)};
            }
        }
        return v;
    }
    const figures = [];
    document.querySelectorAll(".js-plotly-plot").forEach(gd => {
        if (!shown(gd) || !gd._fullLayout) { return; }
        const outer = gd.closest("[id]:not(.js-plotly-plot)") || gd;
        const r = gd.getBoundingClientRect(), v = view(gd);
        if (r.width === 0 || r.bottom <= v.top + 1 || r.top >= v.bottom - 1) { return; }  // out of sight
        const L = gd._fullLayout;
        const inView = q => q.bottom > v.top + 1 && q.top < v.bottom - 1;
        const plots = Array.from(gd.querySelectorAll(".nsewdrag")).map(d => d.getBoundingClientRect()).filter(inView)
            .map(q => ({...box(q), cut: q.top < v.top - 1 || q.bottom > v.bottom + 1 || q.left < v.left - 1 || q.right > v.right + 1}));
        Object.keys(L).filter(k => /^scene\d*$/.test(k)).forEach(k => {
            const s = L[k].domain;
            plots.push({x: Math.round(r.left + L.width * s.x[0]), y: Math.round(r.top + L.height * (1 - s.y[1])),
                        w: Math.round(L.width * (s.x[1] - s.x[0])), h: Math.round(L.height * (s.y[1] - s.y[0])), scene: true});
        });
        const bars = Array.from(gd.querySelectorAll(".colorbar")).map(c => c.getBoundingClientRect()).filter(inView).map(box);
        const texts = Array.from(gd.querySelectorAll(".gtitle, .g-xtitle text, .g-ytitle text, .xtick text, .ytick text, "
                                                     + "[class*=tick] text, .annotation-text, .legendtext, .cbtitle text"))
            .filter(t => shown(t) && t.textContent.trim())
            .map(t => ({t: t.textContent.trim().slice(0, 30), r: t.getBoundingClientRect()}))
            .filter(o => o.r.width > 0 && inView(o.r));
        const seen = [...new Map(texts.map(o => [`${o.t}@${Math.round(o.r.left)},${Math.round(o.r.top)}`, o])).values()];
        const overlaps = [];
        for (let i = 0; i < seen.length; i++) {
            for (let j = i + 1; j < seen.length; j++) {
                if (!apart(seen[i].r, seen[j].r)) { overlaps.push([seen[i].t, seen[j].t]); }
            }
        }
        const cut = seen.filter(o => o.r.left < v.left - 1 || o.r.right > v.right + 1 || o.r.bottom > v.bottom + 1
                                     || o.r.top < v.top - 1).map(o => o.t);
        figures.push({id: outer.id || gd.id, box: box(r), plots, bars, overlaps, cut,
                      whole: r.top >= v.top - 1 && r.bottom <= v.bottom + 1});
    });
    return {W, H, scrollW: document.documentElement.scrollWidth, figures};
})()
