// Presenter mode (dashboard/rooms.py): the presenter's page publishes its address (page, settings,
// tab and playback step) as soon as it changes; a follower's page polls the room and opens each new
// address as a link would, or only moves the playback step and the tab when nothing else changed. A
// follower who decides something breaks away (their own view) and rejoins with one click. The room
// lives in this tab's sessionStorage, so a reload keeps following.
(function () {
    "use strict";
    const HEARTBEAT_MS = 2000;  // the presenter's page speaks at least this often (keeps the room alive)
    const TICK_MS = 150;  // how often the presenter's page looks for a new address
    const AWAY_POLL_MS = 3000;  // a follower on their own still learns where the presenter is

    // The app's path as the browser reaches it ("/", or "/lab/" under a sub-path): Dash writes its
    // config into the page before the assets' scripts, and its own requests start there too.
    const ROOT = (() => {
        try {
            return JSON.parse(document.getElementById("_dash-config").textContent).requests_pathname_prefix || "/";
        } catch (e) { return "/"; }
    })();
    const STORE = ROOT === "/" ? "descent-room" : `descent-room:${ROOT}`;  // two apps of one site: two rooms

    let room = null;
    try { room = JSON.parse(sessionStorage.getItem(STORE)); } catch (e) { room = null; }
    const here = () => window.location.pathname + window.location.search;
    const opened = /[#&]room=([A-Za-z0-9]+)/.exec(window.location.hash);
    if (opened) {  // a room's link (/r/CODE, under the app's path) lands here: this tab follows that room
        room = {code: opened[1].toUpperCase(), role: "follower", following: true, rev: null, bucket: null,
                applied: here()};
        window.history.replaceState(window.history.state, "", here());
    }
    const save = () => (room ? sessionStorage.setItem(STORE, JSON.stringify(room)) : sessionStorage.removeItem(STORE));
    save();

    function pollMs() {
        const bar = document.getElementById("room-bar");
        return Number(bar && bar.dataset.pollMs) || 400;
    }

    // --- the bar under the top bar ---
    function el(tag, attrs, ...children) {
        const node = document.createElement(tag);
        Object.entries(attrs || {}).forEach(([k, v]) => {
            if (k.startsWith("on")) { node.addEventListener(k.slice(2), v); } else { node.setAttribute(k, v); }
        });
        children.forEach(c => node.append(c));
        return node;
    }

    const icon = () => el("span", {class: "icon icon-room", "aria-hidden": "true"});  // assets/icons/room.svg

    let message = "";
    function render() {
        const bar = document.getElementById("room-bar");
        const button = document.getElementById("room-button");
        if (!bar || !button) { return; }
        bar.replaceChildren();
        button.replaceChildren(icon(), room && room.role === "presenter" ? `room ${room.code}` : "start a room");
        if (message) {
            bar.append(el("span", {class: "room-message"}, message),
                       el("button", {class: "small", onclick: () => { message = ""; render(); }}, "×"));
        } else if (room && room.role === "presenter") {
            const n = room.followers || 0;
            bar.append(
                el("img", {class: "room-qr", src: room.qr, alt: `QR code of ${room.link}`}),
                el("div", {class: "room-text"},
                   el("div", {class: "room-title"}, "Room ", el("b", {class: "room-code"}, room.code),
                      ": open ", el("a", {href: room.link, class: "room-link", target: "_blank"}, room.link)),
                   ...(room.note ? [el("div", {class: "room-note"}, room.note)] : []),
                   ...((room.links || []).length > 1 ? [otherLinks()] : []),
                   el("div", {class: "room-count"},
                      `${n} following` + (room.away ? ` · ${room.away} on their own` : "")),
                   el("button", {class: "small", onclick: endRoom}, "end the room")),
                asking());
        } else if (room && room.role === "follower") {
            bar.append(el("span", {class: "room-title"},
                          icon(), room.following ? `Following the presenter (room ${room.code})`
                                                 : `On your own (room ${room.code})`),
                       room.following
                           ? el("button", {class: "small room-away", onclick: breakAway}, "break away")
                           : el("button", {class: "small room-rejoin", onclick: rejoin}, "⟲ rejoin the presenter"),
                       el("button", {class: "small", onclick: leave}, "leave the room"));
            if (room.question) { bar.append(answering()); }
        }
        bar.hidden = !message && !(room && (room.role === "follower" || room.shown !== false));
        if (room && room.role === "presenter" && room.question) { drawAnswers(); }
        bar.className = "room-bar" + (room && room.role === "follower" && room.following ? " following" : "");
    }

    function otherLinks() {  // this computer's other addresses: the presenter picks the one the room can reach
        const select = el("select", {class: "room-links", "aria-label": "the room link's address",
                                     onchange: e => {
                                         const i = Number(e.target.value);
                                         room.link = room.links[i];
                                         room.qr = `${ROOT}room/${room.code}/qr.svg?at=${i}`;
                                         save();
                                         render();
                                     }},
                            ...room.links.map((link, i) => {
                                const option = el("option", {value: String(i)}, link);
                                option.selected = link === room.link;
                                return option;
                            }));
        return el("label", {class: "room-other"}, "address: ", select);
    }

    // --- the presenter ---
    async function json(response) {
        try { return await response.json(); } catch (e) { return {error: `the server answered ${response.status}`}; }
    }

    async function startRoom() {
        const response = await fetch(`${ROOT}room`, {method: "POST", headers: {"Content-Type": "application/json"},
                                                  body: JSON.stringify({url: here()})});
        const data = await json(response);
        if (!response.ok) { message = data.error; render(); return; }
        room = {code: data.code, key: data.key, link: data.link, qr: data.qr, role: "presenter",
                links: data.links, note: data.note,
                published: here(), sentAt: Date.now(), followers: 0, shown: true};
        save();
        render();
    }

    async function endRoom() {
        if (room && room.role === "presenter") {
            await fetch(`${ROOT}room/${room.code}`, {method: "DELETE", headers: {"X-Room-Key": room.key}});
        }
        room = null;
        save();
        render();
    }

    let busy = false;
    async function publish() {
        const url = here();
        if (url === room.published && Date.now() - room.sentAt < HEARTBEAT_MS) { return; }
        const response = await fetch(`${ROOT}room/${room.code}`, {
            method: "POST", headers: {"Content-Type": "application/json", "X-Room-Key": room.key},
            body: JSON.stringify({url: url})});
        const data = await json(response);
        if (response.status === 404 || response.status === 403) {
            room = null; message = data.error || "The room has ended."; save(); render(); return;
        }
        room.sentAt = Date.now();
        if (response.ok) {
            room.published = url;
            if (room.followers !== data.followers || room.away !== data.away) {
                room.followers = data.followers;
                room.away = data.away;
                render();
            }
        }
        save();
    }

    // --- asking the room (dashboard/questions.py, dashboard/rooms.py) ---
    const ANSWERS_MS = 400;  // while a question is open, the presenter's page fetches its answers this often
    function questions() {  // [{kind, title}]: the server writes them on the bar
        const bar = document.getElementById("room-bar");
        try { return JSON.parse(bar.dataset.questions || "[]"); } catch (e) { return []; }
    }
    function asking() {  // the presenter's part: pose a question; its answers as dots on the setting's axis
        const q = room.question;
        if (!q) {
            const select = el("select", {class: "room-ask", "aria-label": "ask the room",
                                         onchange: e => { if (e.target.value) { ask(e.target.value); } }},
                              el("option", {value: ""}, "ask the room…"),
                              ...questions().map(row => el("option", {value: row.kind}, row.title)));
            return el("div", {class: "room-question"}, select,
                      ...(room.asking ? [el("div", {class: "room-note"}, room.asking)] : []));
        }
        const count = (room.answers || []).length;
        const truth = q.truth ? [el("div", {class: "room-truth"}, "The engine: ", el("b", {}, format(q.truth.value)),
                                    ` (${q.truth.how}).`)] : [];
        return el("div", {class: "room-question asked"},
                  el("div", {class: "room-question-text"},
                     el("div", {class: "room-prompt"}, q.prompt),
                     el("div", {class: "room-answers-count"}, `${count} answer${count === 1 ? "" : "s"} (${q.key})`),
                     ...truth,
                     q.truth ? "" : el("button", {class: "small room-reveal", onclick: reveal}, "reveal the answer"),
                     el("button", {class: "small", onclick: closeQuestion}, "close the question")),
                  el("div", {class: "room-answers", id: "room-answers"}));
    }
    function format(v) { return Number(v).toPrecision(3).replace(/\.?0+(e|$)/, "$1"); }
    function drawAnswers() {  // dots stacked in bins across the setting's span (log bins for lr)
        const div = document.getElementById("room-answers"), q = room && room.question;
        if (!div || !q || !window.Plotly) { return; }
        const scale = v => (q.log ? Math.log10(v) : v), lo = scale(q.lo), hi = scale(q.hi), bins = 30;
        const width = (hi - lo) / bins, heights = {}, xs = [], ys = [];
        const symbols = [];
        (room.answers || []).forEach(v => {
            const at = q.log && v <= 0 ? -Infinity : scale(v);  // 0 on a log axis: left of it
            symbols.push(at < lo ? "triangle-left" : at > hi ? "triangle-right" : "circle");  // past an edge
            const b = Math.max(0, Math.min(bins - 1, Math.floor((at - lo) / width)));
            heights[b] = (heights[b] || 0) + 1;
            const centre = lo + (b + 0.5) * width;
            xs.push(q.log ? 10 ** centre : centre);
            ys.push(heights[b]);
        });
        const shapes = q.truth ? [{type: "line", xref: "x", yref: "paper", x0: q.truth.value, x1: q.truth.value,
                                   y0: 0, y1: 1, line: {color: "#b00020", width: 3}}] : [];
        const top = Math.max(3, ...Object.values(heights));
        window.Plotly.react(div, [{type: "scatter", mode: "markers", x: xs, y: ys, hoverinfo: "x",
                                   marker: {size: 9, color: "#1f4f99", symbol: symbols}}],
                            {margin: {l: 30, r: 10, t: 6, b: 28}, width: 340, height: 110, showlegend: false,
                             xaxis: {type: q.log ? "log" : "linear", range: [lo, hi], title: {text: ""},
                                     ...(q.log ? {dtick: 1} : {})},  // decades only: 2 and 5 crowded them
                             yaxis: {range: [0, top + 1], dtick: Math.ceil((top + 1) / 4), fixedrange: true},
                             shapes: shapes},
                            {displayModeBar: false, staticPlot: true});
    }
    async function presenterCall(path, method) {
        const response = await fetch(`${ROOT}room/${room.code}${path}`, {
            method: method, headers: {"Content-Type": "application/json", "X-Room-Key": room.key},
            body: method === "GET" ? undefined : JSON.stringify(room.pending || {})});
        return [response, await json(response)];
    }
    async function ask(kind) {
        room.pending = {kind: kind};
        const [response, data] = await presenterCall("/question", "POST");
        room.pending = null;
        room.asking = response.ok ? "" : data.error;
        if (response.ok) { room.question = data; room.answers = []; }
        save();
        render();
        drawAnswers();
    }
    async function reveal() {
        const [response, data] = await presenterCall("/question/reveal", "POST");
        if (response.ok) { room.question = data; } else { room.asking = data.error; }
        save();
        render();
        drawAnswers();
    }
    async function closeQuestion() {
        await presenterCall("/question", "DELETE");
        room.question = null;
        room.answers = [];
        save();
        render();
    }
    // A lesson the presenter opened from a file (dashboard/player.py keeps it in this tab's
    // sessionStorage): shared with the room once, and again when it changes, so that followers' pages
    // show its text too
    const OPENED = "lesson-opened";
    async function shareLesson() {
        if (!/[?&]lesson=file\./.test(window.location.search)) { return; }
        let text = null;
        try { text = sessionStorage.getItem(OPENED); } catch (e) { text = null; }
        if (!text || text === room.lessonSent) { return; }
        room.pending = {lesson: JSON.parse(text)};
        const [response, data] = await presenterCall("/lesson", "POST");
        room.pending = null;
        room.lessonSent = text;  // (a lesson the server refuses is not sent again: the page says why)
        if (!response.ok) { room.asking = data.error; render(); }
        save();
    }
    async function fetchAnswers() {
        room.answersAt = Date.now();
        const [response, data] = await presenterCall("/answers", "GET");
        if (!response.ok) { return; }
        const before = (room.answers || []).length;
        room.answers = data.answers;
        if (!data.question) { room.question = null; render(); return; }
        if (data.answers.length !== before) {
            const count = document.querySelector("#room-bar .room-answers-count");
            if (count) { count.textContent = `${data.answers.length} answer${data.answers.length === 1 ? "" : "s"} (${room.question.key})`; }
            drawAnswers();
        }
    }
    function answering() {  // a participant's part: the question, and their own value of its setting
        const q = room.question;
        const mine = () => new URLSearchParams(window.location.search).get(q.key) ?? String(q.default);
        const answered = (room.answered || {})[q.id];
        const parts = [el("span", {class: "room-prompt"}, q.prompt)];
        if (answered === undefined) {
            parts.push(el("button", {class: "small room-answer", onclick: () => answer(q, mine())},
                          `answer: my ${q.key.split(".").pop()} is ${mine()}`));
        } else {
            parts.push(el("span", {class: "room-answered"}, `You answered ${answered}.`));
        }
        if (room.answerNote) { parts.push(el("span", {class: "room-note"}, room.answerNote)); }
        if (q.truth) {
            parts.push(el("span", {class: "room-truth"}, "The engine: ", el("b", {}, format(q.truth.value)),
                          ` (${q.truth.how}).`));
        }
        return el("div", {class: "room-question"}, ...parts);
    }
    async function answer(q, value) {
        const response = await fetch(`${ROOT}room/${room.code}/answer`, {
            method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({question: q.id, value: value})});
        const data = await json(response);
        room.answered = room.answered || {};
        if (response.ok) { room.answered[q.id] = data.value; room.answerNote = ""; }
        else { room.answerNote = data.error; }  // (answered already from this browser: said, not taken as theirs)
        save();
        render();
    }
    // the value on the button follows the participant's own setting as it changes
    window.addEventListener("descent-address", () => {
        if (room && room.role === "follower" && room.question) { render(); }
    });

    // ... at once when the page's address changes (a tab, a page, a setting), not at its next look
    window.addEventListener("descent-address", () => {
        if (room && room.role === "presenter" && !busy) {
            busy = true;
            publish().catch(() => {}).finally(() => { busy = false; });
        }
    });

    // --- a follower ---
    // What the page shows without being built again: the playback's step and the view's tab. The
    // page's components take them (its link follows); anything else opens the address as a link does.
    // Each: where it is, its component's id, what it shows now, and what a link without it means.
    const SHOWN = {
        step: {find: () => document.querySelector(".step-slider[data-slider]"), id: node => node.dataset.slider,
               now: node => { const thumb = node.querySelector("[role=slider]"); return thumb && thumb.getAttribute("aria-valuenow"); },
               value: text => Number(text)},
        tab: {find: () => window.descentTabs.node(), id: node => node.dataset.tabs,
              now: node => window.descentTabs.shown(node), value: text => text},  // (assets/descent.js)
    };
    function settingsOf(url) {  // the address without what the page shows in place
        const u = new URL(url, window.location.origin);
        Object.keys(SHOWN).forEach(key => u.searchParams.delete(key));
        u.searchParams.sort();
        return u.pathname + "?" + u.searchParams.toString();
    }

    // The step and tab of ``url`` set on the page's components where they show another, or false
    // (another page or settings). Called again at each poll: the page's own answer to an earlier
    // change (its view, drawn late on a busy machine) set the step back to its run's end.
    function inPlace(url) {
        if (!room.applied || settingsOf(url) !== settingsOf(room.applied)) { return false; }
        const want = new URL(url, window.location.origin).searchParams;
        const parts = Object.entries(SHOWN).map(([key, part]) => [key, part, part.find()]);
        const wanted = (key, node) => want.get(key) ?? (node && node.dataset.default);  // (a link omits a default)
        if (parts.some(([key, , node]) => want.get(key) !== null && !node)) { return false; }
        parts.forEach(([key, part, node]) => {
            const value = node && wanted(key, node);
            if (value != null && String(part.now(node)) !== String(value)) {
                window.dash_clientside.set_props(part.id(node), {value: part.value(value)});
            }
        });
        return true;
    }

    function apply(url) {
        if (!inPlace(url)) {  // open the address as a link would: the page is built from its settings
            window.history.pushState(null, "", url);
            window.dispatchEvent(new CustomEvent("_dashprivate_pushstate"));
        }
        room.applied = url;
    }

    async function poll() {
        const query = new URLSearchParams({rev: room.rev ?? "", bucket: room.bucket ?? "",
                                           follow: room.following ? "1" : "0", lesson: room.lessonRev ?? ""});
        const response = await fetch(`${ROOT}room/${room.code}?${query}`, {cache: "no-store"});
        const data = await json(response);
        if (!response.ok) {
            if (response.status === 404) { room = null; message = data.error; save(); render(); }
            return;
        }
        room.bucket = data.bucket;
        if (data.lesson && typeof data.lesson === "object") {  // the presenter's own lesson: its text here too
            window.dash_clientside.set_props(OPENED, {data: data.lesson});
            room.lessonRev = data.lesson_rev;
        }
        const question = data.question || null;
        if (JSON.stringify(question) !== JSON.stringify(room.question || null)) {
            room.question = question;
            room.answerNote = "";
            render();
        }
        if (typeof data.url === "string") {
            room.rev = data.rev;
            room.latest = data.url;
            if (room.following) { apply(data.url); }
        } else if (room.following && room.latest && room.applied === room.latest) {
            inPlace(room.latest);  // the step and tab still as the presenter's
        }
        save();
    }

    function breakAway() {
        if (!room || !room.following) { return; }
        room.following = false;
        save();
        render();
    }

    function rejoin() {
        room.following = true;
        room.applied = null;  // whatever this page shows now, open the presenter's address
        if (room.latest) { apply(room.latest); }
        save();
        render();
    }

    function leave() {
        room = null;
        save();
        render();
    }

    // A follower who decides something (types or picks a value, moves a slider, presses a button, a
    // tab or a link) is on their own from then on. Scrolling, pinching or a touch that changes nothing
    // is no decision: on a phone the controls are most of the page, and a swipe over them broke away.
    const CONTROLS = ".controls, .playback, .tab, nav a, .share, .sweep-buttons";
    const DECISIONS = "button:not(.dash-dropdown), a, [role=tab], [role=option], [role=radio], [role=checkbox], .tab";
    const following = () => room && room.role === "follower" && room.following;
    const inControls = target => target && target.closest && target.closest(CONTROLS);
    function decided(event) {
        if (following() && inControls(event.target)) { breakAway(); }
    }
    document.addEventListener("input", decided, true);  // a typed value, a ticked box
    document.addEventListener("change", decided, true);
    document.addEventListener("click", event => {  // a tap that did not scroll: browsers send no click after one
        if (following() && inControls(event.target) && event.target.closest(DECISIONS)) { breakAway(); }
    }, true);
    // a slider: a drag or a key that moved its value (a swipe that began over it and scrolled did not)
    let grabbed = null;
    function grab(event) {
        const slider = following() && inControls(event.target) && event.target.closest(".dash-slider-root");
        const thumb = slider && slider.querySelector("[role=slider]");
        grabbed = thumb ? {thumb: thumb, value: thumb.getAttribute("aria-valuenow")} : null;
    }
    function release() {
        if (grabbed && following() && grabbed.thumb.getAttribute("aria-valuenow") !== grabbed.value) { breakAway(); }
        grabbed = null;
    }
    document.addEventListener("pointerdown", grab, true);
    document.addEventListener("keydown", grab, true);
    document.addEventListener("pointerup", () => setTimeout(release, 50), true);  // (after React draws it)
    document.addEventListener("keyup", () => setTimeout(release, 50), true);
    document.addEventListener("pointercancel", () => { grabbed = null; }, true);  // the browser took it: a scroll

    document.addEventListener("click", event => {
        if (!event.target.closest || !event.target.closest("#room-button")) { return; }
        if (room && room.role === "presenter") {  // show or hide the room's bar
            room.shown = room.shown === false;
            save();
            render();
        } else {
            message = "";
            startRoom();
        }
    });

    // one loop: the presenter publishes, a follower polls (never two requests at once)
    let last = 0;
    async function loop() {
        const now = Date.now();
        const every = !room ? TICK_MS : room.role === "presenter" ? TICK_MS
            : room.following ? pollMs() : AWAY_POLL_MS;
        if (room && !busy && now - last >= every) {
            busy = true;
            last = now;
            try {
                if (room.role === "presenter") {
                    await publish();
                    if (room) { await shareLesson(); }
                    if (room && room.question && Date.now() - (room.answersAt || 0) >= ANSWERS_MS) { await fetchAnswers(); }
                } else { await poll(); }
            } catch (e) {  // the network or the server hiccuped: the next tick tries again
            } finally {
                busy = false;
            }
        }
        setTimeout(loop, TICK_MS / 3);
    }
    loop();
    // the top bar is drawn by Dash after this script runs
    const watch = new MutationObserver(() => {
        if (document.getElementById("room-bar")) { watch.disconnect(); render(); }
    });
    watch.observe(document, {childList: true, subtree: true});
})();
