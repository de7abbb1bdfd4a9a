"""The server's settings: one ``Settings`` object, read from the environment once (``settings()``).

Each field of a section is an environment variable of the same name; its default is the field's.
A bad value stops the server at start with a one-line message (``SystemExit``), never later in a
request. Nothing else in dashboard/ or app.py reads the environment (tests/test_configuration.py
holds the README's table equal to these fields). compute/ reads its own two, DATA_DIR and
CACHE_ROOT, for the data files (it never imports dashboard/).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

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
    # the address participants open (e.g. https://lab.example.org/): room links and their QR codes use it
    PUBLIC_URL: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.TRUSTED_PROXIES <= 10:
            raise SystemExit(f"TRUSTED_PROXIES={self.TRUSTED_PROXIES!r}: expected 0 to 10")
        if self.COOKIE_SECURE not in COOKIE_SECURE:
            raise SystemExit(f"COOKIE_SECURE={self.COOKIE_SECURE!r}: expected one of {', '.join(COOKIE_SECURE)}")
        if not self.FRAME_ANCESTORS.strip() or any(c in self.FRAME_ANCESTORS for c in ";,\r\n"):
            raise SystemExit(f"FRAME_ANCESTORS={self.FRAME_ANCESTORS!r}: expected sources such as 'self'")
        if self.PUBLIC_URL:
            parts = urlsplit(self.PUBLIC_URL)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise SystemExit(f"PUBLIC_URL={self.PUBLIC_URL!r}: expected an address such as https://lab.example.org/")
            if not self.PUBLIC_URL.endswith("/"):
                object.__setattr__(self, "PUBLIC_URL", self.PUBLIC_URL + "/")


@dataclass(frozen=True, slots=True)
class Folders:
    """Where the server keeps what it writes: each folder its own variable, by default under
    ``CACHE_ROOT`` (compute's, ``cache-dir`` in the working directory; never inside the package)."""

    CACHE_ROOT: str = ""  # the parent of every default folder below (default: compute's, cache-dir)
    WEIGHTS_DIR: str = ""  # trained networks and computed landscapes (default CACHE_ROOT/weights)
    BACKGROUND_CACHE_DIR: str = ""  # the job store on one machine (default CACHE_ROOT/background)
    SECRET_KEY_FILE: str = ""  # one machine's shared key (default CACHE_ROOT/secret_key)
    CACHE_DIR: str = ""  # the compute cache's files with CACHE_TYPE=FileSystemCache (default CACHE_ROOT/compute)

    def path(self, name: str) -> Path:
        """The folder (or file) ``name``: its variable when set, else its default under CACHE_ROOT."""
        given = getattr(self, name)
        if given:
            return Path(given)
        from compute.datasets import (
            CACHE_ROOT,  # compute's default, written once (and torch is not imported to read it)
        )

        default = {"WEIGHTS_DIR": "weights", "BACKGROUND_CACHE_DIR": "background", "SECRET_KEY_FILE": "secret_key",
                   "CACHE_DIR": "compute"}
        return Path(self.CACHE_ROOT or CACHE_ROOT) / default[name]


@dataclass(frozen=True, slots=True)
class Server:
    """The web server: where it listens, how many workers and threads, what a request may carry."""

    HOST: str = "127.0.0.1"  # the address to listen on (0.0.0.0: every interface, as in the image)
    PORT: int = 8050
    WORKERS: int = 2  # gunicorn worker processes (`make serve`, the image)
    THREADS: int = 4  # request threads per worker
    MAX_CONTENT_LENGTH: int = 1 << 20  # bytes a request may carry (an uploaded landscape); beyond: 413
    # signs cookies and job handles; required with REDIS_URL (default: made once, kept); never in a repr
    SECRET_KEY: str = dataclasses.field(default="", repr=False)
    LANDSCAPE_DEVICE: str = "auto"  # where landscape points are evaluated: auto (a GPU when torch sees one), cpu, cuda
    BROWSER_PATH: str = ""  # the Chrome or Chromium the exports draw with (default: found on the PATH)

    def __post_init__(self) -> None:
        if not 0 < self.PORT < 65536:
            raise SystemExit(f"PORT={self.PORT!r}: expected 1 to 65535")
        for name in ("WORKERS", "THREADS", "MAX_CONTENT_LENGTH"):
            if getattr(self, name) < 1:
                raise SystemExit(f"{name}={getattr(self, name)!r}: must be a positive number")
        if self.LANDSCAPE_DEVICE not in ("auto", "cpu", "cuda"):
            raise SystemExit(f"LANDSCAPE_DEVICE={self.LANDSCAPE_DEVICE!r}: expected auto, cpu or cuda")


CACHE_TYPES = ("SimpleCache", "FileSystemCache", "RedisCache")


@dataclass(frozen=True, slots=True)
class Stores:
    """What is shared, and where: the job store, the compute cache, the folders' size caps."""

    REDIS_URL: str = ""  # several machines: jobs go to Celery workers, and the store is this Redis
    BACKGROUND_MANAGER: str = "celery"  # with REDIS_URL: celery, or diskcache (jobs on this machine)
    CACHE_TYPE: str = ""  # SimpleCache, FileSystemCache or RedisCache (default: RedisCache with REDIS_URL, else SimpleCache)
    CACHE_REDIS_URL: str = ""  # the cache's own Redis, which may evict freely (default REDIS_URL)
    CACHE_DEFAULT_TIMEOUT: int = 3600  # seconds a cached result lives
    CACHE_THRESHOLD: int = 500  # entries SimpleCache and FileSystemCache keep at most
    CACHE_DIR_MAX_MB: float = 500.0  # the FileSystemCache folder's cap (least recently used out first)
    WEIGHTS_MAX_MB: float = 500.0  # WEIGHTS_DIR's cap (least recently used out first)

    def __post_init__(self) -> None:
        if self.BACKGROUND_MANAGER not in ("celery", "diskcache"):
            raise SystemExit(f"BACKGROUND_MANAGER={self.BACKGROUND_MANAGER!r}: expected celery or diskcache")
        if self.CACHE_TYPE and self.CACHE_TYPE not in CACHE_TYPES:
            raise SystemExit(f"CACHE_TYPE={self.CACHE_TYPE!r}: expected one of {', '.join(CACHE_TYPES)}")
        for name in ("CACHE_DEFAULT_TIMEOUT", "CACHE_THRESHOLD", "CACHE_DIR_MAX_MB", "WEIGHTS_MAX_MB"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise SystemExit(f"{name}={value!r}: must be a positive finite number")

    @property
    def uses_celery(self) -> bool:
        """Whether jobs go to Celery workers: REDIS_URL set, and BACKGROUND_MANAGER not diskcache."""
        return bool(self.REDIS_URL) and self.BACKGROUND_MANAGER == "celery"

    @property
    def cache_type(self) -> str:
        return self.CACHE_TYPE or ("RedisCache" if self.REDIS_URL else "SimpleCache")


@dataclass(frozen=True, slots=True)
class JobLimits:
    """The caps and deadlines of background jobs (dashboard/jobs/book.py keeps them)."""

    JOBS_MAX: int = 2  # jobs running at once on the server (one machine: its cores)
    JOBS_PER_SESSION: int = 2  # jobs one browser session may hold, running or queued
    # jobs one client address may hold, running or queued: half the queue, so one network cannot
    # fill it (a classroom of 30 behind one NAT address: 15 at once; sweeps take about a second)
    JOBS_PER_ADDRESS: int = 15
    JOBS_QUEUE: int = 30  # jobs waiting at most; a job beyond is refused with a message
    # a job nobody polled for this long stops. Not less than a minute: Chrome wakes the timers of a
    # tab hidden for over 5 minutes once a minute, so a page in a background tab polls that seldom
    JOBS_ABANDON_S: float = 75.0
    JOBS_LOST_S: float = 8.0  # a running job whose heartbeat is older than this is lost
    JOBS_START_S: float = 60.0  # time allowed from admission to the first heartbeat
    JOBS_STALL_S: float = 180.0  # a job that reports no progress for this long is stopped
    JOBS_EXPIRE_S: float = 600.0  # a finished job's result waits this long to be collected
    JOBS_THREADS: int = 1  # torch threads of a job process (JOBS_MAX jobs share the cores)
    # a job process's niceness (1-19): below the web workers, whose request threads answer sliders
    JOBS_NICE: int = 10
    # what a job may allocate beyond what its process starts with (its imports, about 400 MB shared
    # with the forkserver): a job that needs more stops with a message and the server lives on
    JOBS_MEMORY_MB: int = 2048
    # helper tasks a landscape job sends with REDIS_URL (dashboard/spread.py): idle Celery workers
    # take blocks of its points; 1 and a busy pool leave the job to compute them all itself
    LANDSCAPE_HELPERS: int = 2

    def __post_init__(self) -> None:
        positive(self)
        if self.JOBS_NICE > 19:
            raise SystemExit(f"JOBS_NICE={self.JOBS_NICE!r}: expected 1 to 19")


@dataclass(frozen=True, slots=True)
class Offer:
    """What the pages offer beside compute's registries."""

    # optimizer classes the pages offer beside torch.optim's, comma-separated module:Class (an
    # installed package's, pytorch_optimizer:Lion, or your own); an address never names one
    OPTIMIZER_CLASSES: str = ""

    @property
    def optimizer_classes(self) -> list[str]:
        return [part.strip() for part in self.OPTIMIZER_CLASSES.split(",") if part.strip()]


SECTIONS: dict[str, type] = {"server": Server, "stores": Stores, "folders": Folders, "clients": ClientLimits,
                             "proxying": Proxying, "jobs": JobLimits, "offer": Offer}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the server, by section; each section's fields are environment variables."""

    server: Server = dataclasses.field(default_factory=Server)
    stores: Stores = dataclasses.field(default_factory=Stores)
    folders: Folders = dataclasses.field(default_factory=Folders)
    clients: ClientLimits = dataclasses.field(default_factory=ClientLimits)
    proxying: Proxying = dataclasses.field(default_factory=Proxying)
    jobs: JobLimits = dataclasses.field(default_factory=JobLimits)
    offer: Offer = dataclasses.field(default_factory=Offer)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        """Every section from ``env``; a bad value stops with a one-line message naming it."""
        return cls(**{name: from_env(section, env) for name, section in SECTIONS.items()})

    @staticmethod
    def variables() -> list[str]:
        """The environment variables the server reads: every field of every section."""
        return [field.name for section in SECTIONS.values() for field in dataclasses.fields(section)]


@functools.cache
def settings() -> Settings:
    """This process's settings, read from the environment the first time they are asked for (a
    server checks them as it starts). Tests that change the environment call ``settings.cache_clear()``."""
    return Settings.from_env(os.environ)
