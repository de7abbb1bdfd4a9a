"""Hosting settings read from the environment once, into frozen dataclasses.

Each field is an environment variable of the same name; its default is the field's. A bad value
stops the server at start with a one-line message (``SystemExit``), never later in a request.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from compute.datasets import CACHE_ROOT

T = TypeVar("T")


def from_env(cls: type[T], env: Mapping[str, str] = os.environ) -> T:
    """``cls`` with every field named in ``env`` parsed as its default's type (int, float, str)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in env:
            kind = type(field.default)
            try:
                values[field.name] = kind(env[field.name])
            except ValueError as err:
                raise SystemExit(f"{field.name}={env[field.name]!r}: expected a number") from err
    return cls(**values)


def positive(instance: Any) -> None:
    """Every number of ``instance`` is positive and finite, or SystemExit names the one that is not."""
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name)
        if isinstance(value, int | float) and not (value > 0 and math.isfinite(value)):  # NaN fails "> 0" too
            raise SystemExit(f"{field.name}={value!r}: must be a positive finite number")


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """What one client address may hold, and how fast it may start things (generous enough for a
    classroom of 30 behind one NAT address; README, Hosting, gives the numbers)."""

    ADDRESS_COMPUTING: int = 3  # computations at once from one address, across the web workers
    ADDRESS_WAITING: int = 3  # more of them waiting for a slot; beyond that, "busy" at once (threads stay free)
    SESSIONS_PER_MINUTE: int = 60  # sessions issued to one address a minute; beyond, it counts as the address
    ROOMS_PER_ADDRESS: int = 10  # live rooms one address may hold
    ROOMS_MAX: int = 500  # live rooms in all (each at most a 4,000-character address: ~2.5 MB)
    ROOMS_PER_MINUTE: int = 20  # rooms one address may start a minute
    ROOM_MISSES_PER_MINUTE: int = 60  # room codes that find no room, per address a minute (guessing)

    def __post_init__(self) -> None:
        positive(self)


COOKIE_SECURE = ("auto", "always", "never")


@dataclass(frozen=True, slots=True)
class Proxying:
    """How the server sits on the network: who the client is, and what the browser is told."""

    # reverse proxies in front that append to X-Forwarded-For (and set X-Forwarded-Proto); 0: the
    # peer's address is the client's. Set it only when there are that many: a client could forge it.
    TRUSTED_PROXIES: int = 0
    # the session cookie's Secure flag: auto (when the request came over HTTPS), always or never
    COOKIE_SECURE: str = "auto"
    # who may show the pages in a frame (CSP frame-ancestors): 'self', 'none', or origins
    FRAME_ANCESTORS: str = "'self'"

    def __post_init__(self) -> None:
        if not 0 <= self.TRUSTED_PROXIES <= 10:
            raise SystemExit(f"TRUSTED_PROXIES={self.TRUSTED_PROXIES!r}: expected 0 to 10")
        if self.COOKIE_SECURE not in COOKIE_SECURE:
            raise SystemExit(f"COOKIE_SECURE={self.COOKIE_SECURE!r}: expected one of {', '.join(COOKIE_SECURE)}")
        if not self.FRAME_ANCESTORS.strip() or any(c in self.FRAME_ANCESTORS for c in ";,\r\n"):
            raise SystemExit(f"FRAME_ANCESTORS={self.FRAME_ANCESTORS!r}: expected sources such as 'self'")


@dataclass(frozen=True, slots=True)
class Folders:
    """Where the server keeps what it writes: each folder its own variable, by default under
    ``CACHE_ROOT`` (``cache-dir`` in the working directory; never inside the installed package)."""

    CACHE_ROOT: str = CACHE_ROOT
    WEIGHTS_DIR: str = ""  # trained networks and computed landscapes (default CACHE_ROOT/weights)
    BACKGROUND_CACHE_DIR: str = ""  # the job store on one machine (default CACHE_ROOT/background)
    SECRET_KEY_FILE: str = ""  # one machine's shared key (default CACHE_ROOT/secret_key)

    def path(self, name: str) -> Path:
        """The folder (or file) ``name``: its variable when set, else its default under CACHE_ROOT."""
        given = getattr(self, name)
        default = {"WEIGHTS_DIR": "weights", "BACKGROUND_CACHE_DIR": "background", "SECRET_KEY_FILE": "secret_key"}
        return Path(given) if given else Path(self.CACHE_ROOT) / default[name]
