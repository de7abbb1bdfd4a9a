"""The abuse phase of bench load: strangers who try to take the server from a workshop, run in the
same minutes as the workshop's real users, and the real room they aim at.

- Forged-cookie flooders: connections from ONE address, each request with a fresh random
  ``descent_session`` cookie (one the server never signed), posting the toy lab's heaviest render
  (the 2 × 2 view, ``flood_epochs`` epochs, a new learning rate each time: never a cache hit) back
  to back. dashboard/share.py should count them all as their one address.
- A bomb uploader (an address of its own): the landscape page's "Open a file…" upload callback with
  zip bombs (deflate, bzip2 and LZMA members declaring hundreds of MB, made in a second as
  tests/compute/test_npzfile.py makes them) and random bytes, in a loop. Each should be refused with
  one sentence in the page's status line (compute/npzfile.py), at no memory.
- A room flooder (an address of its own): starts rooms with fresh sessions as fast as it can,
  guesses room codes, and polls the real room with fresh forged cookies and any ``bucket`` it likes
  to inflate its follower count (dashboard/rooms.py).
- The real room: a presenter and ``followers`` followers, each at an address of its own with the
  session the server gave it, polling as assets/room.js does. Real users, like the toy lab's.

Every client here names its address in X-Forwarded-For: the server runs with TRUSTED_PROXIES=1, so
its per-address limits act as they would on the internet.
"""

from __future__ import annotations

import http.client
import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dashboard.callback_requests import render_body
from dashboard.clients import SESSION_COOKIE
from dashboard.ids import ID, LandscapeID
from dashboard.rooms import ALPHABET, BUCKET_S, CODE_LENGTH, POLL_MS
from tests.bombs import bombs, upload_body

FLOODERS_ADDRESS = "10.66.0.1"
BOMBER_ADDRESS = "10.66.0.2"
ROOM_FLOODER_ADDRESS = "10.66.0.3"
PRESENTER_ADDRESS = "10.3.0.1"
UPDATE = "/_dash-update-component"


def follower_address(k: int) -> str:
    return f"10.3.1.{k + 1}"


# -- HTTP ---------------------------------------------------------------------------------------

class Connection:
    """One kept-alive connection of a client at ``address`` (sent as X-Forwarded-For), opened
    again after a failure. ``request`` answers (status, headers, body); status 0: no answer."""

    def __init__(self, port: int, address: str, timeout: float = 60) -> None:
        self.port, self.address, self.timeout = port, address, timeout
        self.conn = self._open()

    def _open(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: Any = None, cookie: str = "",
                headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage | None, bytes]:
        sent = {"X-Forwarded-For": self.address, **({"Cookie": cookie} if cookie else {}), **(headers or {})}
        data = None
        if body is not None:  # JSON, or bytes of JSON encoded once beforehand
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            return response.status, response.headers, response.read()
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = self._open()
            return 0, None, b""

    def session(self) -> str:
        """A session the server issues to this address (a ``Cookie`` value), or "" when it issues none."""
        _, headers, _ = self.request("GET", "/")
        issued = (headers.get("Set-Cookie", "") if headers else "").split(";", 1)[0]
        return issued if issued.startswith(f"{SESSION_COOKIE}=") else ""

    def close(self) -> None:
        self.conn.close()


def forged_cookie() -> str:
    return f"{SESSION_COOKIE}={secrets.token_urlsafe(16)}"


def banner(raw: bytes) -> str:
    """The error banner an answer of Dash's endpoint sets ("" when none)."""
    if f'"{ID.ERROR}"'.encode() not in raw:
        return ""
    try:
        doc = json.loads(raw)
    except ValueError:
        return ""
    said = doc.get("sideUpdate", {}).get(ID.ERROR, {}).get("children") if isinstance(doc, dict) else None
    return said if isinstance(said, str) else ""


class Tally:
    """Outcome counts that many threads add to."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def add(self, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] += 1


# -- zip bombs (tests/bombs.py makes them) --------------------------------------------------------

# what the page's status line must say of each file, after "NAME: not a landscape file: "
REFUSAL = {"deflate": "would inflate to", "bzip2": "compressed with bzip2", "lzma": "compressed with LZMA",
           "random": "not a zip archive"}


def refusal(status: int, raw: bytes, filename: str, kind: str) -> str | None:
    """Why an answer to an upload is not a refusal in one sentence in the status line (None: it is)."""
    if status != 200:
        return f"HTTP {status}"
    if said := banner(raw):
        return f"banner: {said[:100]}"
    try:
        text = json.loads(raw)["response"][LandscapeID.PROGRESS_TEXT]["children"]
    except (ValueError, KeyError, TypeError):
        return f"no status line: {raw[:100]!r}"
    expected = f"{filename}: not a landscape file: "
    if not isinstance(text, str) or not text.startswith(expected) or REFUSAL[kind] not in text or "\n" in text \
            or any(word in text for word in ("Traceback", "Error", "pickle")):
        return f"said {str(text)[:160]!r}"
    return None


# -- the abusers ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AbuseSizes:
    """What the abuse phase puts on the server, beside the workshop (bench/load.py's ``Sizes``)."""

    flooders: int
    flood_epochs: int
    bomb_mib: int
    followers: int  # the real room's (real users)
    publish_s: float  # the real presenter's heartbeat


@dataclass
class Abuse:
    """What the abusers got, and what the real room's users saw."""

    flood: Tally = field(default_factory=Tally)
    uploads: Tally = field(default_factory=Tally)
    bad_refusals: list[str] = field(default_factory=list)
    starts: Tally = field(default_factory=Tally)
    guesses: Tally = field(default_factory=Tally)
    polls: Tally = field(default_factory=Tally)
    room_errors: list[str] = field(default_factory=list)  # the real room's users' failed requests
    followers_seen: list[int] = field(default_factory=list)  # what the presenter was told, publish by publish
    followers_at: float = 0.0  # when the presenter was told the last of them
    room_polled: float = 0.0  # when the room flooder's last poll of the real room was answered 200
    polled_then: float = 0.0  # room_polled as it stood at the presenter's last publish

    def true_followers(self, real: int) -> bool:
        """Whether the room showed its true followers: never more than the real ones and the room
        flooder's one address, and at the end the real ones, plus the flooder only when one of its
        polls was answered in the last two buckets (the count is the fuller of the last two)."""
        if not self.followers_seen or max(self.followers_seen) > real + 1:
            return False
        counted = self.polled_then >= self.followers_at - 2 * BUCKET_S
        return self.followers_seen[-1] in ((real, real + 1) if counted else (real,))


def _flooder(port: int, dependencies: list[dict], sizes: AbuseSizes, k: int, out: Abuse,
             until: float) -> None:
    conn, n = Connection(port, FLOODERS_ADDRESS), 0
    while time.monotonic() < until:
        n += 1
        lr = round(0.3 + k / 1000 + n / 1_000_000, 6)  # a new learning rate each time: never a cache hit
        body = render_body(dependencies, {"sgd.lr": lr, "run.epochs": sizes.flood_epochs}, tab="all",
                           changed="sgd.lr.value")
        status, _, raw = conn.request("POST", UPDATE, body, cookie=forged_cookie())
        said = banner(raw) if status == 200 else ""
        out.flood.add(f"200 banner: {said[:48]}…" if said else "200 figure" if status == 200 else str(status))
    conn.close()


def _bomber(port: int, dependencies: list[dict], files: dict[str, bytes], out: Abuse, until: float,
            rounds: int) -> None:
    conn = Connection(port, BOMBER_ADDRESS)
    cookie = conn.session()
    # encoded once: the bench's CPU is the server's too (2 cores), an attacker's is its own
    bodies = {kind: json.dumps(upload_body(dependencies, f"{kind}.npz", data)).encode() for kind, data in files.items()}
    done = 0
    while time.monotonic() < until or done < rounds:
        for kind in (*files, "random"):
            filename = f"{kind}.npz"
            body = bodies.get(kind) or upload_body(dependencies, filename, secrets.token_bytes(6000))
            status, _, raw = conn.request("POST", UPDATE, body, cookie)
            why = refusal(status, raw, filename, kind)
            out.uploads.add(f"{kind} refused" if why is None else f"{kind}: {why[:40]}")
            if why is not None:
                out.bad_refusals.append(f"{kind}: {why}")
        done += 1
    conn.close()


def _room_flooder(port: int, code: str, out: Abuse, until: float) -> None:
    """Room starts with fresh sessions, guessed codes, and polls of the real room with forged
    cookies and any bucket, round after round, as fast as answers come."""
    conn, rng = Connection(port, ROOM_FLOODER_ADDRESS, timeout=30), random.Random(6)
    while time.monotonic() < until:
        cookie = conn.session() or forged_cookie()  # the address's new sessions run out at 60 a minute
        status, _, raw = conn.request("POST", "/room", {"url": "/"}, cookie)
        out.starts.add(_room_outcome(status, raw))
        guess = "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH))
        status, _, raw = conn.request("GET", f"/room/{guess}")
        out.guesses.add(_room_outcome(status, raw))
        for _ in range(3):
            status, _, raw = conn.request("GET", f"/room/{code}?bucket={rng.randrange(10**9)}&follow=1",
                                          cookie=forged_cookie())
            out.polls.add(_room_outcome(status, raw))
            if status == 200:
                out.room_polled = time.monotonic()
    conn.close()


def _room_outcome(status: int, raw: bytes) -> str:
    """A room answer's status, a 429 told apart: the rate ("rate") or a cap ("refused")."""
    if status != 429:
        return str(status)
    return "429 rate" if b"Too many requests" in raw else "429 refused"


class RealRoom:
    """A presenter and followers, real users at addresses of their own with sessions the server
    issued: the room the room flooder polls."""

    def __init__(self, port: int, sizes: AbuseSizes, out: Abuse) -> None:
        self.port, self.sizes, self.out = port, sizes, out
        self.presenter = Connection(port, PRESENTER_ADDRESS, timeout=30)
        cookie = self.presenter.session()
        status, _, raw = self.presenter.request("POST", "/room", {"url": "/?step=0"}, cookie)
        if status != 200:
            raise RuntimeError(f"the real presenter could not start a room: {status} {raw[:200]!r}")
        made = json.loads(raw)
        self.code, self.key = made["code"], made["key"]
        self.lock = threading.Lock()

    def _error(self, what: str) -> None:
        with self.lock:
            self.out.room_errors.append(what)

    def present(self, until: float) -> None:
        step = 0
        while time.monotonic() < until - self.sizes.publish_s / 2:
            time.sleep(min(self.sizes.publish_s, max(0.0, until - time.monotonic() - 0.2)))
            step += 1
            status, _, raw = self.presenter.request("POST", f"/room/{self.code}", {"url": f"/?step={step // 3}"},
                                                    headers={"X-Room-Key": self.key})
            if status != 200:
                self._error(f"presenter: {status} {raw[:100]!r}")
                continue
            self.out.followers_seen.append(json.loads(raw)["followers"])
            self.out.followers_at, self.out.polled_then = time.monotonic(), self.out.room_polled

    def follow(self, k: int, until: float) -> None:
        conn = Connection(self.port, follower_address(k), timeout=30)
        cookie, rev, bucket = conn.session(), "", ""
        time.sleep(random.random() * POLL_MS / 1000)  # followers arrive at different moments
        while time.monotonic() < until:
            asked = time.monotonic()
            status, _, raw = conn.request("GET", f"/room/{self.code}?rev={rev}&bucket={bucket}&follow=1", cookie=cookie)
            if status != 200:
                self._error(f"follower {k}: {status} {raw[:100]!r}")
            else:
                answer = json.loads(raw)
                rev, bucket = answer["rev"], answer["bucket"]
            time.sleep(max(0.0, POLL_MS / 1000 - (time.monotonic() - asked)))
        conn.close()


def start(port: int, dependencies: list[dict], sizes: AbuseSizes, files: dict[str, bytes],
          until: float) -> tuple[Abuse, list[threading.Thread]]:
    """The real room and the abusers, in threads until ``until`` (the bomber ends its first round)."""
    out = Abuse()
    room = RealRoom(port, sizes, out)
    targets: list[tuple[Callable[..., None], tuple]] = [
        (room.present, (until,)),
        *[(room.follow, (k, until)) for k in range(sizes.followers)],
        *[(_flooder, (port, dependencies, sizes, k, out, until)) for k in range(sizes.flooders)],
        (_bomber, (port, dependencies, files, out, until, 1)),
        (_room_flooder, (port, room.code, out, until)),
    ]
    threads = [threading.Thread(target=target, args=args, daemon=True) for target, args in targets]
    for thread in threads:
        thread.start()
    return out, threads


__all__ = ["Abuse", "AbuseSizes", "bombs", "start"]
