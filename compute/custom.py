"""Any ``torch.optim.Optimizer`` subclass as an optimizer registry row: pytorch-optimizer's (Lion,
Prodigy, Adan, …) or your own, its arguments and defaults read from its constructor's signature.

    from compute import OptimizerSpec, RunSpec, run_trajectory
    from compute.custom import register_class

    name = register_class("pytorch_optimizer:Lion")        # or the class itself: cls_pytorch_optimizer__Lion
    traj = run_trajectory(RunSpec(optimizer=OptimizerSpec(name, (("lr", 1e-3), ("betas_0", 0.95)))))

The CLI's ``--optimizer-class module:Class --opt name=value`` does the same. A registered class is
a row like the built-in ones (its specs, checks, Code tab and CLI), with no batched form: the
sweep, the previews and the room's answers run torch's own loop under a cap, and the page offers
only the classes its host lists (``OPTIMIZER_CLASSES``), never one named in an address.

What a constructor argument becomes: a number (int or float default) a setting of that kind, a
bool a switch, a tuple of numbers one setting per entry (``betas`` → ``betas_0``, ``betas_1``,
shown as ``betas[0]``, ``betas[1]``); any other default (None, a string) stays the class's own.
The class checks the values itself on construction; what it rejects is its message by the control.
"""

from __future__ import annotations

import importlib
import inspect
import re
import threading
from typing import Any

import torch

from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS, OptimizerInfo, StateView
from compute.params import Param

_PATH = re.compile(r"^[A-Za-z_][\w.]{0,200}:[A-Za-z_][\w.]{0,100}$")
_LOCK = threading.Lock()


def load_class(path: str) -> type[torch.optim.Optimizer]:
    """The class ``module:Class`` names (``pytorch_optimizer:Lion``), imported; InvalidSpec where it
    does not name a torch.optim.Optimizer subclass."""
    if not isinstance(path, str) or not _PATH.match(path):
        raise InvalidSpec(f"an optimizer class is named module:Class (got {str(path)[:60]!r})", "optimizer_class")
    module_name, _, name = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise InvalidSpec(f"cannot import {module_name!r}: {err}", "optimizer_class") from None
    for part in name.split("."):
        target = getattr(target, part, None)
    if not (isinstance(target, type) and issubclass(target, torch.optim.Optimizer)):
        raise InvalidSpec(f"{path} is not a torch.optim.Optimizer subclass", "optimizer_class")
    return target


CLASS_PREFIX = "cls_"


def class_path(cls: type[torch.optim.Optimizer]) -> str:
    """``module:QualifiedName``, as the CLI names a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def class_key(cls: type[torch.optim.Optimizer], path: str | None = None) -> str:
    """A class's registry key, a name as settings keys take it (no dot, no colon):
    ``cls_pytorch_optimizer__Lion`` for ``pytorch_optimizer:Lion``."""
    module, _, name = (path or class_path(cls)).partition(":")
    return CLASS_PREFIX + re.sub(r"[^A-Za-z0-9_]", "_", f"{module}__{name}")


def _params(cls: type[torch.optim.Optimizer]) -> tuple[tuple[Param, ...], tuple[tuple[str, tuple[str, ...]], ...]]:
    params: list[Param] = []
    packed: list[tuple[str, tuple[str, ...]]] = []
    signature = inspect.signature(cls.__init__)
    for name, p in list(signature.parameters.items())[1:]:
        if name == "params" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = p.default
        if isinstance(default, bool):
            params.append(Param(name, bool, default, help=f"{cls.__name__}'s {name}"))
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            kind = int if isinstance(default, int) and name != "lr" else float
            params.append(Param(name, kind, kind(default), help=f"{cls.__name__}'s {name}", slider=False))
        elif isinstance(default, (tuple, list)) and default and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in default):
            names = tuple(f"{name}_{i}" for i in range(len(default)))
            params += [Param(n, float, float(v), label=f"{name}[{i}]", help=f"{cls.__name__}'s {name}[{i}]",
                             slider=False) for i, (n, v) in enumerate(zip(names, default))]
            packed.append((name, names))
    return tuple(params), tuple(packed)


def _lr_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    return None, [float(v.get("lr", float("nan")))] * len(states)  # no more is known of its state


def class_row(cls: type[torch.optim.Optimizer], path: str | None = None) -> OptimizerInfo:
    """The registry row of an optimizer class: its numeric and switch arguments as settings."""
    params, packed = _params(cls)
    doc = (inspect.getdoc(cls) or "").strip().split("\n")[0]
    return OptimizerInfo(
        key=class_key(cls, path), title=cls.__name__, torch_cls=cls, params=params, rules=(),
        help=f"{class_path(cls)}: {doc}" if doc else class_path(cls), view=_lr_view, arrow=None, packed=packed,
        batched=False)


def register_class(cls: type[torch.optim.Optimizer] | str) -> str:
    """Add an optimizer class (or ``module:Class``) to the registry; its key, for OptimizerSpec
    (``module:Class`` → ``cls_module__Class``, the name as given; a class → its module's and name)."""
    path = cls if isinstance(cls, str) else None
    cls = load_class(cls) if isinstance(cls, str) else cls
    if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
        raise InvalidSpec(f"{cls!r:.60} is not a torch.optim.Optimizer subclass", "optimizer_class")
    key = class_key(cls, path)
    with _LOCK:
        if key not in OPTIMIZERS:
            OPTIMIZERS[key] = class_row(cls, path)
    return key


def parse_options(key: str, options: list[str]) -> tuple[tuple[str, str], ...]:
    """``--opt name=value`` strings as (setting, text) pairs for OptimizerSpec (which checks them):
    ``betas=0.9,0.99`` sets betas_0 and betas_1."""
    row = OPTIMIZERS[key]
    packed = dict(row.packed)
    pairs: list[tuple[str, str]] = []
    for option in options:
        name, sep, value = option.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidSpec(f"--opt takes name=value (got {option[:60]!r})", "opt")
        if name in packed:
            parts = value.split(",")
            if len(parts) != len(packed[name]):
                raise InvalidSpec(f"{name} takes {len(packed[name])} values, comma-separated (got {value[:40]!r})",
                                  f"{key}.{name}")
            pairs += list(zip(packed[name], (p.strip() for p in parts)))
        else:
            pairs.append((name, value.strip()))
    return tuple(pairs)
