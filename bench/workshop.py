"""A workshop participant at the toy lab, for bench load: open the page, then move one control every
1 to 2 s (a POST to /_dash-update-component with a body bench/load.py prepared).

Written once, driven two ways: by locust's users in the full run (bench/locustfile.py, in .venv-load)
and by plain threads in the smoke run (bench/load.py). A driver's ``send(method, path, name, body)``
sends one request the way its HTTP client does, keeping whatever cookies the server sets and
naming the user's own address (``address(k)``, in X-Forwarded-For), and returns the status and the
text. Standard library only: locust's venv imports this file too.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

WAIT_S = (1.0, 2.0)  # between two moves
Send = Callable[[str, str, str, Any], tuple[int, str]]


def failure(status: int, text: str, banner: str) -> str | None:
    """Why an answer counts as a failed request (None: it does not): a status other than 200, or a
    200 whose JSON sets the error banner (component ``banner``): "Something went wrong…", and for
    a real participant "Too many changes from your network…" too (its address is its own)."""
    if status != 200:
        return f"HTTP {status}"
    if f'"{banner}"' not in text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    said = doc.get("sideUpdate", {}).get(banner, {}).get("children") if isinstance(doc, dict) else None
    return f"error banner: {said}" if isinstance(said, str) and said else None


def address(k: int) -> str:
    """Toy-lab user ``k``'s client address (sent as X-Forwarded-For: the server trusts one proxy)."""
    return f"10.1.{k // 250}.{k % 250 + 1}"


class ToyLabUser:
    """One participant; ``moves`` are bench/load.py's bodies ({"name", "body"}), ``banner`` the
    error banner's component id."""

    def __init__(self, moves: list[dict], banner: str, rng: random.Random | None = None) -> None:
        self.moves, self.banner, self.rng = moves, banner, rng or random.Random()

    def wait_s(self) -> float:
        return self.rng.uniform(*WAIT_S)

    def open_page(self, send: Send) -> str | None:
        return failure(*send("GET", "/", "GET /", None), self.banner)

    def move_a_control(self, send: Send) -> str | None:
        move = self.rng.choice(self.moves)
        return failure(*send("POST", "/_dash-update-component", move["name"], move["body"]), self.banner)
