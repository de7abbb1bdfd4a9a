"""Rooms: a presenter's view, followed by everyone who opened the room's link.

A room holds one thing: the presenter's address (page, settings, tab and playback step are all in
it, since every page keeps its address equal to its view) and a revision number. The presenter's
browser publishes its address whenever it changes; each follower's browser asks for the room
every ``POLL_MS`` and, on a new revision, opens the address as a link would (the settings) or only
moves the playback step (when only the step changed). So a follower sees exactly what the link
would show, computed by the same callbacks, and a room costs the server one small JSON text.

Rooms live in the job store every web worker shares (a folder on one machine, Redis with
REDIS_URL), as JSON text: nothing read back can run code. A room expires ``IDLE_S`` after its
presenter's page last spoke. Followers are counted in time buckets of ``BUCKET_S``, once per
session (dashboard/clients.py: a session the server signed, else the client's address): a
session's first poll in a bucket marks it seen there (an atomic add) and adds one to the bucket's
counter, so one client is one follower however it polls, and counting costs one write per follower
every few seconds (the follower sends back the bucket it was counted in; a client that lies only
makes the server check again).

Floods are bounded: at most ``ROOMS_MAX`` live rooms in all and ``ROOMS_PER_ADDRESS`` per client
address (an index of the live rooms, pruned as they expire), ``ROOMS_PER_MINUTE`` new rooms and
``ROOM_MISSES_PER_MINUTE`` lookups of codes that hold no room per address (Flask-Limiter: 429;
past it, the address's lookups are refused but for the rooms its sessions already follow).

HTTP (JSON in and out; errors are ``{"error": message}`` with a 4xx status, 503 when the store is
unreachable), each under the app's path when it is served under one (``/lab/room``: see ``install``):

- ``POST /room`` ``{"url"}``: start a room (one per browser session: a new one ends the last).
  Answers ``{"code", "key", "link", "qr"}``; ``key`` authorises the presenter's later calls.
- ``POST /room/CODE`` ``{"url"}`` with header ``X-Room-Key``: publish the address (also the
  presenter's heartbeat); answers ``{"rev", "followers", "away"}`` (those following, and those
  who broke away and are on their own).
- ``GET /room/CODE?rev=R&bucket=B&follow=1``: a follower's poll; answers ``{"rev", "bucket"}``
  and, when the revision is newer than ``R``, ``"url"``.
- ``DELETE /room/CODE`` with ``X-Room-Key``: end the room.
- ``GET /r/CODE``: the room's short link: redirects to the presenter's address, marked to follow.
- ``GET /room/CODE/qr.svg?at=I``: the short link (the I-th of ``links``; the first by default) as a
  QR code.

Asking the room (dashboard/questions.py says what a question is and how the engine answers it):

- ``POST /room/CODE/question`` ``{"kind"}`` with ``X-Room-Key``: pose one question about the
  presenter's view (a new one replaces the last); answers the question. Followers' polls carry it.
- ``POST /room/CODE/answer`` ``{"question", "value"}``: a participant's answer, the value of the
  question's setting on their own page: one per session and question (a second is refused), at most
  ``ANSWERS_MAX`` in all, anonymous (the room keeps a digest of the session, to count it once).
- ``GET /room/CODE/answers`` with ``X-Room-Key``: the question and the values answered so far.
- ``POST /room/CODE/question/reveal`` with ``X-Room-Key``: the engine's answer, kept with the
  question (followers' polls carry it too).
- ``DELETE /room/CODE/question`` with ``X-Room-Key``: the question closes; its answers go (they go
  with the room in any case).

A lesson the presenter opened from a file (dashboard/lessons.py) travels with the room:
``POST /room/CODE/lesson`` ``{"lesson"}`` with ``X-Room-Key`` (checked whole, as the page checks a
file); followers' polls carry its revision (``lesson_rev``), and the lesson itself when theirs is older
(``lesson=REV`` in the poll), so a follower's page shows the presenter's own lesson's text too.

The link is one participants can open (``room_links``): under ``PUBLIC_URL`` when the host set it;
else at the address the presenter opened, unless that is this computer's own (127.0.0.1,
localhost), which no participant can reach: then at this computer's network addresses, with a note
that says why (and, when the server answers on none of them, how to serve so that it does).
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from flask import Flask, Response, jsonify, redirect, request
from flask_limiter import Limiter

from dashboard.clients import Client
from dashboard.settings import ClientLimits
from dashboard.store import Store

log = logging.getLogger(__name__)

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read off a projector
CODE_LENGTH = 6  # 32**6 ≈ 10⁹ codes
IDLE_S = 1800.0  # a room expires this long after its presenter's page last published
BUCKET_S = 3.0  # followers are counted per bucket of this many seconds
POLL_MS = 400  # a follower's poll (assets/room.js reads it from the page)
URL_MAX = 4000  # characters of a published address
FOLLOWING, AWAY = "n", "away"  # the two counts of a room's followers
ANSWERS_MAX = 500  # answers to one question
SHOWN = ("id", "kind", "title", "prompt", "key", "default", "log", "lo", "hi", "truth")  # a question, as followers see it


class RoomError(Exception):
    """A request about a room that cannot be served; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message, self.status = message, status


ENDED = "This room has ended (or its link is mistyped): ask the presenter for the new link."


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Rooms:
    """The rooms in a shared ``Store``."""

    def __init__(self, store: Store, paths: Callable[[], Iterable[str]], clock: Callable[[], float] = time.time,
                 idle_s: float = IDLE_S, bucket_s: float = BUCKET_S, limits: ClientLimits | None = None) -> None:
        """``paths()``: the pages' paths, the only addresses a room may hold."""
        self.store, self.paths, self.clock = store, paths, clock
        self.idle_s, self.bucket_s, self.limits = idle_s, bucket_s, limits or ClientLimits()

    def check_url(self, url: Any) -> str:
        """A page's address on this site ("/path?query"), or RoomError."""
        if not isinstance(url, str) or not url or len(url) > URL_MAX:
            raise RoomError(f"url: expected a page's address of at most {URL_MAX} characters")
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or parts.path not in set(self.paths()):
            raise RoomError("url: not a page of this site")
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _room(self, code: Any) -> dict[str, Any]:
        if not isinstance(code, str) or len(code) != CODE_LENGTH or not set(code) <= set(ALPHABET):
            raise RoomError(ENDED, 404)
        try:
            room = json.loads(self.store.get(f"room:{code}") or "null")
        except ValueError:
            room = None
        if not isinstance(room, dict) or not isinstance(room.get("url"), str):
            raise RoomError(ENDED, 404)
        try:  # only ever one of this app's pages (its short link redirects there)
            self.check_url(room["url"])
        except RoomError:
            raise RoomError(ENDED, 404) from None
        return room

    def _presenter(self, code: Any, key: Any) -> dict[str, Any]:
        room = self._room(code)
        if not isinstance(key, str) or not secrets.compare_digest(_digest(key), room.get("key", "")):
            raise RoomError("Only the presenter can change this room.", 403)
        return room

    def _save(self, code: str, room: dict[str, Any]) -> None:
        self.store.set(f"room:{code}", json.dumps(room), expire=self.idle_s)

    def create(self, who: Client, url: Any) -> dict[str, str]:
        """Start a room showing ``url``; the session's previous room ends. RoomError (429) when the
        address holds ``ROOMS_PER_ADDRESS`` rooms or the server ``ROOMS_MAX``."""
        url = self.check_url(url)
        with self.store.locked("rooms"):
            previous = self.store.get(f"room-of:{who.session}")
            if previous:
                self.store.delete(f"room:{previous}")
            live = [e for e in self._index() if self.store.get(f"room:{e['code']}") is not None]
            ours = sum(e["address"] == _digest(who.address) for e in live)
            if ours >= self.limits.ROOMS_PER_ADDRESS:
                raise RoomError(f"Your network already holds {ours} rooms (at most {self.limits.ROOMS_PER_ADDRESS}); "
                                "end one, or wait for an unused one to expire.", 429)
            if len(live) >= self.limits.ROOMS_MAX:
                raise RoomError("The server holds as many rooms as it can just now; try again later.", 429)
            for _ in range(8):
                code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
                if self.store.get(f"room:{code}") is None:
                    break
            else:  # eight taken codes in a row: the store is broken
                raise RoomError("No room could be made now; try again.", 503)
            key = secrets.token_urlsafe(24)
            self._save(code, {"url": url, "rev": 1, "key": _digest(key), "at": self.clock()})
            self.store.set(f"room-of:{who.session}", code, expire=self.idle_s)
            self.store.set("rooms", json.dumps([*live, {"code": code, "address": _digest(who.address)}]), expire=None)
        return {"code": code, "key": key}

    def _index(self) -> list[dict[str, str]]:
        """The rooms made and not yet seen gone (code, and the digest of the address that made it)."""
        try:
            index = json.loads(self.store.get("rooms") or "[]")
        except ValueError:
            return []
        return [e for e in index if isinstance(e, dict) and isinstance(e.get("code"), str)
                and isinstance(e.get("address"), str)] if isinstance(index, list) else []

    def publish(self, code: Any, key: Any, url: Any) -> dict[str, int]:
        """The presenter's address now (a new revision when it changed); keeps the room alive."""
        room = self._presenter(code, key)
        url = self.check_url(url)
        if url != room["url"]:
            room.update(url=url, rev=int(room.get("rev", 0)) + 1)
        room["at"] = self.clock()
        self._save(code, room)
        return {"rev": room["rev"], "followers": self.followers(code), "away": self.followers(code, AWAY)}

    # --- asking the room ---

    def ask(self, code: Any, key: Any, pose: Callable[[str, dict[str, str]], dict[str, Any]]) -> dict[str, Any]:
        """Pose a question about the presenter's view: ``pose(path, query)`` (dashboard/questions.py)
        makes it, or raises ValueError (a sentence). It replaces the room's last question."""
        room = self._presenter(code, key)
        parts = urlsplit(room["url"])
        try:
            question = pose(parts.path, dict(parse_qsl(parts.query)))
        except ValueError as err:
            raise RoomError(getattr(err, "message", str(err))) from None
        question = {**question, "id": int(room.get("asked", 0)) + 1, "truth": None}
        room.update(asked=question["id"], question=question)
        self._save(code, room)
        return _shown(question)

    def close_question(self, code: Any, key: Any) -> None:
        room = self._presenter(code, key)
        if room.pop("question", None) is not None:
            self.store.delete(f"room:{code}:answers:{room['asked']}")
            self._save(code, room)

    def answer(self, code: Any, who: Client, question_id: Any, value: Any,
               check: Callable[[dict[str, Any], Any], float]) -> dict[str, Any]:
        """A participant's answer to the open question: ``check(question, value)`` makes it a number
        (or raises ValueError); once per session; ANSWERS_MAX in all."""
        room = self._room(code)
        question = room.get("question")
        if not isinstance(question, dict) or str(question_id) != str(question.get("id")):
            raise RoomError("That question is closed: the presenter asked another, or none.", 409)
        try:
            number = check(question, value)
        except ValueError as err:
            raise RoomError(getattr(err, "message", str(err))) from None
        asked = question["id"]
        with self.store.locked(f"room:{code}:answers"):
            answers = self._answers(code, asked)
            if len(answers) >= ANSWERS_MAX:
                raise RoomError(f"This question has its {ANSWERS_MAX} answers.", 429)
            if not self.store.add(f"room:{code}:answered:{asked}:{_digest(who.session)[:24]}", "1", expire=self.idle_s):
                raise RoomError("You have answered this question.", 409)
            answers.append(number)
            self.store.set(f"room:{code}:answers:{asked}", json.dumps(answers), expire=self.idle_s)
        return {"question": asked, "value": number, "answers": len(answers)}

    def _answers(self, code: str, asked: int) -> list[float]:
        try:
            found = json.loads(self.store.get(f"room:{code}:answers:{asked}") or "[]")
        except ValueError:
            return []
        return [float(v) for v in found if isinstance(v, (int, float))] if isinstance(found, list) else []

    def results(self, code: Any, key: Any) -> dict[str, Any]:
        """The open question and its answers so far (the presenter's)."""
        room = self._presenter(code, key)
        question = room.get("question")
        if not isinstance(question, dict):
            return {"question": None, "answers": []}
        return {"question": _shown(question), "answers": self._answers(code, question["id"])}

    def reveal(self, code: Any, key: Any, truth: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
        """The engine's answer to the open question (``truth(question)``: a value and how it was found),
        kept with it."""
        room = self._presenter(code, key)
        question = room.get("question")
        if not isinstance(question, dict):
            raise RoomError("No question is open.", 409)
        try:
            found = truth(question)
        except ValueError as err:
            raise RoomError(getattr(err, "message", str(err))) from None
        question["truth"] = {"value": found.value, "how": found.how}
        self._save(code, room)
        return _shown(question)

    def share_lesson(self, code: Any, key: Any, lesson: Any, check: Callable[[Any], dict[str, Any]]) -> int:
        """The presenter's own lesson (``check(lesson)``: the lesson as its file says it, or ValueError),
        kept beside the room (followers read it only when it changed); its revision."""
        room = self._presenter(code, key)
        try:
            checked = check(lesson)
        except ValueError as err:
            raise RoomError(getattr(err, "message", str(err))) from None
        text = json.dumps(checked, sort_keys=True)
        if text != self.store.get(f"room:{code}:lesson"):
            self.store.set(f"room:{code}:lesson", text, expire=self.idle_s)
            room["lesson_rev"] = int(room.get("lesson_rev", 0)) + 1
        room["at"] = self.clock()
        self._save(code, room)
        return int(room["lesson_rev"])

    def end(self, code: Any, key: Any) -> None:
        self._presenter(code, key)
        self.store.delete(f"room:{code}")

    def _bucket(self) -> int:
        return int(self.clock() // self.bucket_s)

    def follow(self, code: Any, who: Client, rev: Any = None, bucket: Any = None,
               counted: bool = True, lesson: Any = None) -> dict[str, Any]:
        """A follower's poll: the room's revision, its address when newer than ``rev``, and the
        bucket this follower was counted in (it sends it back, so the server looks once a bucket;
        ``who`` is counted at most once a bucket whatever it sends)."""
        room = self._room(code)
        now = self._bucket()
        answer: dict[str, Any] = {"rev": room["rev"], "bucket": bucket}
        if str(bucket) != str(now):  # once a bucket: count the follower, and know it as the room's
            kind = FOLLOWING if counted else AWAY  # following, or on their own (they broke away)
            if self.store.add(f"room:{code}:seen:{kind}:{now}:{_digest(who.session)[:24]}", "1",
                              expire=self.bucket_s * 4):
                self.store.incr(f"room:{code}:{kind}:{now}", expire=self.bucket_s * 4)
            self._join(code, who)
            answer["bucket"] = now
        if str(rev) != str(room["rev"]):
            answer["url"] = room["url"]
        if isinstance(room.get("question"), dict):
            answer["question"] = _shown(room["question"])
        if room.get("lesson_rev"):
            answer["lesson_rev"] = room["lesson_rev"]
            if str(lesson) != str(room["lesson_rev"]):
                try:
                    answer["lesson"] = json.loads(self.store.get(f"room:{code}:lesson") or "null")
                except ValueError:
                    answer["lesson"] = None
        return answer

    def followers(self, code: str, kind: str = FOLLOWING) -> int:
        """Followers counted in this bucket or the last (a full bucket, and the one filling now):
        those following (``FOLLOWING``), or those on their own (``AWAY``)."""
        now = self._bucket()
        counts = []
        for bucket in (now - 1, now):
            try:
                counts.append(int(self.store.get(f"room:{code}:{kind}:{bucket}") or 0))
            except ValueError:
                counts.append(0)
        return max(counts)

    def url(self, code: Any, who: Client | None = None) -> str:
        """The room's address (``who`` opened its link: a member from now on)."""
        url = self._room(code)["url"]
        if who is not None:
            self._join(code, who)
        return url

    def _join(self, code: str, who: Client) -> None:
        self.store.add(f"room:{code}:member:{_digest(who.session)[:24]}", "1", expire=self.idle_s)

    def is_member(self, code: Any, who: Client) -> bool:
        """Whether ``who`` has opened this room before (its link or a poll): a guesser past its limit
        is refused every code, a follower keeps its room. False when the store does not answer."""
        if not isinstance(code, str) or len(code) != CODE_LENGTH:
            return False
        try:
            return self.store.get(f"room:{code.upper()}:member:{_digest(who.session)[:24]}") is not None
        except Exception:
            return False


def _shown(question: dict[str, Any]) -> dict[str, Any]:
    return {k: question.get(k) for k in SHOWN}


def qr_svg(text: str) -> bytes:
    """``text`` as a QR code (SVG, black on white, a quiet zone of 4 modules)."""
    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=8, border=4, xmldecl=False)
    return out.getvalue()


def _own_machine(host: str) -> bool:
    """Whether ``host`` names this computer only (a loopback address or localhost)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


VIRTUAL = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "tun", "tap", "wg")


def network_addresses() -> list[str]:
    """This computer's IPv4 addresses on the interfaces that are up, but loopback and link-local:
    where another machine on its network reaches it (virtual bridges', such as Docker's, last)."""
    import psutil

    up = {name for name, stats in psutil.net_if_stats().items() if stats.isup}
    found = []
    for name, addresses in psutil.net_if_addrs().items():
        for address in addresses:
            if name in up and address.family == socket.AF_INET:
                ip = ipaddress.ip_address(address.address)
                if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                    found.append((name.startswith(VIRTUAL), address.address))
    return [address for _, address in sorted(set(found))]


def answers(host: str, port: int) -> bool:
    """Whether something listens at ``host``:``port`` (a connection from this computer, 0.2 s)."""
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class Links:
    """Where participants open a room: ``links`` (the first is the one shown and in the QR code)
    and ``note``, why the link is not the address the presenter opened ("" when it is)."""

    links: tuple[str, ...]
    note: str = ""


def room_links(root: str, public_url: str = "", addresses: Callable[[], list[str]] = network_addresses,
               reachable: Callable[[str, int], bool] = answers) -> Links:
    """The links of a room whose pages live under ``root`` (the address the presenter opened, up to
    the app's path): ``public_url`` when set; ``root`` when another machine can reach it; else this
    computer's network ``addresses`` at the same port, those where the server answers first."""
    if public_url:
        return Links((public_url,))
    parts = urlsplit(root)
    opened = parts.hostname or ""
    if not _own_machine(opened):
        return Links((root,))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = addresses()
    if not found:
        return Links((root,), f"You opened Descent Lab at {opened}, which only this computer can reach, and this "
                              "computer has no network address: set PUBLIC_URL to an address participants can open.")
    serving = [address for address in found if reachable(address, port)]
    links = tuple(urlunsplit((parts.scheme, f"{address}:{port}", parts.path, "", ""))
                  for address in serving + [a for a in found if a not in serving])
    note = (f"You opened Descent Lab at {opened}, which only this computer can reach: the link uses this "
            "computer's network address instead.")
    if not serving:
        note += (f" The server answers on {opened} only, so participants cannot open it yet: start it with "
                 "HOST=0.0.0.0 (make run HOST=0.0.0.0, or make serve HOST=0.0.0.0).")
    return Links(links, note + " If participants reach this computer by another name, set PUBLIC_URL.")


def check_public_url(public_url: str, requests_prefix: str) -> None:
    """Refuse to start when PUBLIC_URL cannot open the app: under a sub-path, the address a browser
    opens ends with the app's path (Dash's ``requests_pathname_prefix``)."""
    if public_url and not urlsplit(public_url).path.endswith(requests_prefix):
        raise SystemExit(f"PUBLIC_URL ({public_url}) does not end with the app's path {requests_prefix} "
                         "(DASH_URL_BASE_PATHNAME or DASH_REQUESTS_PATHNAME_PREFIX): room links would not "
                         f"open the app. Set it to the address participants open, e.g. "
                         f"https://lab.example.org{requests_prefix}")


@dataclass(frozen=True, slots=True)
class Asking:
    """What asking the room needs from the pages (dashboard/questions.py), passed in: ``pose(kind,
    path, query)``, ``check(question, value)`` and ``truth(question)``."""

    pose: Callable[[Any, str, dict[str, str]], dict[str, Any]]
    check: Callable[[dict[str, Any], Any], float]
    truth: Callable[[dict[str, Any]], Any]
    lesson: Callable[[Any], dict[str, Any]] | None = None  # a lesson's document, checked (dashboard/lessons.py)


def install(server: Flask, rooms: Rooms, client: Callable[[], Client], limiter: Limiter,
            public_url: str = "", routes_prefix: str = "/", requests_prefix: str = "/",
            asking: Asking | None = None) -> None:
    """The room routes (see the module's docstring) on ``server``, their rates limited per address.

    Under a sub-path (Dash's ``url_base_pathname``) the routes live under ``routes_prefix``, where
    this server answers, and every address given to a browser (the link, the QR code's) under
    ``requests_prefix``, where the browser reaches it (the two differ behind a proxy that strips the
    prefix)."""
    # codes that find no room, per address: past the limit every lookup is refused (a 429 for a miss
    # and a 200 for a hit would still tell codes apart), but the rooms a session already follows
    misses = limiter.shared_limit(f"{rooms.limits.ROOM_MISSES_PER_MINUTE}/minute", scope="room-misses",
                                  deduct_when=lambda response: response.status_code == 404,
                                  exempt_when=lambda: rooms.is_member((request.view_args or {}).get("code"), client()))
    starts = limiter.limit(f"{rooms.limits.ROOMS_PER_MINUTE}/minute")

    def answer(work: Callable[[], Any]) -> Any:
        try:
            return work()
        except RoomError as err:
            return jsonify(error=err.message), err.status
        except Exception:  # the store unreachable (Redis gone): a message, never a 500
            log.exception("room store")
            return jsonify(error="Rooms are unavailable right now (the shared store does not answer)."), 503

    def body() -> dict[str, Any]:
        try:
            data = request.get_json(silent=True)
        except RecursionError:  # nested past what the decoder follows: a bad request, not the store's fault
            raise RoomError("The request's body nests too deeply to be read.") from None
        return data if isinstance(data, dict) else {}

    def links() -> Links:  # the app's address as the browser sees it: this host, the requests' prefix
        return room_links(request.host_url + requests_prefix.lstrip("/"), public_url)

    room, short = f"{routes_prefix}room", f"{routes_prefix}r"

    @server.post(room)
    @starts
    def room_create():
        def work():
            made = rooms.create(client(), body().get("url"))
            found = links()
            reach = [f"{link}r/{made['code']}" for link in found.links]
            return jsonify(**made, link=reach[0], links=reach, note=found.note,
                           qr=f"{requests_prefix}room/{made['code']}/qr.svg")
        return answer(work)

    @server.post(f"{room}/<code>")
    def room_publish(code: str):
        return answer(lambda: jsonify(rooms.publish(code, request.headers.get("X-Room-Key"), body().get("url"))))

    @server.delete(f"{room}/<code>")
    def room_end(code: str):
        def work():
            rooms.end(code, request.headers.get("X-Room-Key"))
            return jsonify(ended=code)
        return answer(work)

    @server.get(f"{room}/<code>")
    @misses
    def room_follow(code: str):
        args = request.args
        return answer(lambda: jsonify(rooms.follow(code, client(), args.get("rev"), args.get("bucket"),
                                                   counted=args.get("follow", "1") == "1", lesson=args.get("lesson"))))

    @server.get(f"{short}/<code>")
    @misses
    def room_link(code: str):
        code = code.upper()
        try:
            url = rooms.url(code, client())
        except RoomError as err:
            return Response(f"<!doctype html><title>Descent Lab: no such room</title><p>{err.message}</p>"
                            f'<p><a href="{requests_prefix}">Open Descent Lab</a></p>', status=err.status,
                            mimetype="text/html")
        except Exception:
            log.exception("room store")
            return Response("<!doctype html><p>Rooms are unavailable right now; try again in a moment.</p>",
                            status=503, mimetype="text/html")
        return redirect(f"{url}#room={code}", code=302)

    if asking is not None:
        _asking_routes(server, rooms, asking, room, answer, body, client, misses)

    @server.get(f"{room}/<code>/qr.svg")
    @misses
    def room_qr(code: str):
        def work():
            rooms.url(code)  # a room that exists
            found = links().links
            at = request.args.get("at", "0")
            link = found[int(at)] if at.isdigit() and len(at) < 3 and int(at) < len(found) else found[0]
            return Response(qr_svg(f"{link}r/{code.upper()}"), mimetype="image/svg+xml")
        return answer(work)


def _asking_routes(server: Flask, rooms: Rooms, asking: Asking, room: str, answer: Callable, body: Callable,
                   client: Callable[[], Client], misses: Callable) -> None:
    """The routes of asking the room and of a presenter's own lesson (see the module's docstring)."""
    def presenter() -> Any:
        return request.headers.get("X-Room-Key")

    @server.post(f"{room}/<code>/question")
    def room_ask(code: str):
        return answer(lambda: jsonify(rooms.ask(code, presenter(),
                                                lambda path, query: asking.pose(body().get("kind"), path, query))))

    @server.delete(f"{room}/<code>/question")
    def room_close_question(code: str):
        def work():
            rooms.close_question(code, presenter())
            return jsonify(closed=code)
        return answer(work)

    @server.post(f"{room}/<code>/question/reveal")
    def room_reveal(code: str):
        return answer(lambda: jsonify(rooms.reveal(code, presenter(), asking.truth)))

    @server.get(f"{room}/<code>/answers")
    def room_answers(code: str):
        return answer(lambda: jsonify(rooms.results(code, presenter())))

    if asking.lesson is not None:
        check_lesson = asking.lesson

        @server.post(f"{room}/<code>/lesson")
        def room_lesson(code: str):
            return answer(lambda: jsonify(lesson_rev=rooms.share_lesson(code, presenter(), body().get("lesson"),
                                                                        check_lesson)))

    @server.post(f"{room}/<code>/answer")
    @misses
    def room_answer(code: str):
        def work():
            data = body()
            return jsonify(rooms.answer(code, client(), data.get("question"), data.get("value"), asking.check))
        return answer(work)

