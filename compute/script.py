"""The plain torch script that reproduces a run: data, model, optimizer, and the loop with every
knob in use, printing ``step,weight,bias,loss`` exactly as ``python -m compute run`` does."""

from __future__ import annotations

from compute.data import CLASS_SCORE_SOURCE, CLASS_SCORE_TEXT, TRUE_CURVE_SOURCE, TRUE_CURVE_TEXT
from compute.losses import LOSSES
from compute.optimizers import OPTIMIZERS
from compute.schedules import SCHEDULES
from compute.specs import RunSpec
from compute.surfaces import SURFACES


def _kwargs(values: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def optimizer_kwargs(spec: RunSpec) -> dict:
    """The keyword arguments of the run's torch.optim call that differ from torch's defaults (lr always)."""
    row = OPTIMIZERS[spec.optimizer.name]
    given = row.torch_kwargs(spec.optimizer.values)
    defaults = row.torch_kwargs({p.name: p.default for p in row.params})
    return {k: v for k, v in given.items() if k == "lr" or defaults[k] != v}


def optimizer_call(spec: RunSpec) -> str:
    """``SGD(lr=0.1, momentum=0.9)``: the run's optimizer as its torch.optim call reads."""
    return f"{OPTIMIZERS[spec.optimizer.name].title}({_kwargs(optimizer_kwargs(spec))})"


def _optimizer_lines(spec: RunSpec, shown: dict) -> list[str]:
    """The optimizer's construction: torch.optim's call, or for Muon the pair torch's documentation
    writes (Muon for the 2-D parameters, AdamW for the others)."""
    row = OPTIMIZERS[spec.optimizer.name]
    if spec.optimizer.name != "muon":
        return [f"optimizer = torch.optim.{row.title}(model.parameters(), {_kwargs(shown)})"]
    muon = {k: v for k, v in shown.items() if not k.startswith("adamw_")}
    given = row.torch_kwargs(spec.optimizer.values)
    adamw = {"lr": given["adamw_lr"], **{k[len("adamw_"):]: v for k, v in shown.items()
                                          if k.startswith("adamw_") and k != "adamw_lr"}}
    return ["# Muon is for matrices: the weight (1 × 1) goes to Muon, the bias to AdamW, as torch's documentation pairs them",
            f"optimizer = torch.optim.Muon([p for p in model.parameters() if p.ndim == 2], {_kwargs(muon)})",
            f"adamw = torch.optim.AdamW([p for p in model.parameters() if p.ndim != 2], {_kwargs(adamw)})"]


def loss_call(spec: RunSpec) -> str:
    """``HuberLoss(delta=1.0)``: the run's loss as its torch.nn call reads."""
    return f"{LOSSES[spec.loss.name].title}({_kwargs(spec.loss.values)})"


def _step_lines(spec: RunSpec, split: bool, full_batch: bool) -> tuple[list[str], list[str]]:
    """One step of the loop (zero_grad, the row, backward, clip, step; LBFGS's closure; the
    scheduler's step where it steps every step), and the scheduler's step statements."""
    schedule = SCHEDULES[spec.schedule.name]
    scheduled = spec.schedule.name != "none"
    both = ["optimizer", "adamw"] if split else ["optimizer"]
    body = ([f"{o}.zero_grad()" for o in both] if spec.zero_grad
            else ["# no optimizer.zero_grad(): .grad keeps the sum of every gradient so far"])
    loss = _loss_source(spec)
    body.append(f"loss = {loss}")
    if full_batch:
        body.append("row(step, loss.item())")
    else:
        body += ["with torch.no_grad():", "    row(step, loss_fn(model(X), Y).item())"]
    clip = [f"torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm={spec.max_norm!r})"] if spec.clip_grad_norm else []
    if OPTIMIZERS[spec.optimizer.name].closure:  # LBFGS evaluates the loss again, as often as its search needs
        body += ["", "def closure():", "    optimizer.zero_grad()", f"    loss = {loss}",
                 "    loss.backward()", *("    " + c for c in clip), "    return loss", "",
                 "optimizer.step(closure)"]
    else:
        body += ["loss.backward()", *clip, *(f"{o}.step()" for o in both)]
    stepper = "step(loss.item())" if schedule.plateau else "step()"
    steppers = [f"{name}.{stepper}" for name in (["scheduler", "adamw_scheduler"] if split else ["scheduler"])]
    if scheduled and (full_batch or not spec.schedule.per_epoch):
        body += [steppers[0] + ("  # on the step's loss" if schedule.plateau else ""), *steppers[1:]]
    if not full_batch:
        body.append("step += 1")
    return body, steppers


def _loss_source(spec: RunSpec) -> str:
    """The loss of a step as the script computes it: the batch's, or the surface's at the point."""
    return "f(model.bias, model.weight).sum()" if spec.surface.on else "loss_fn(model(xb), yb)"


def _surface_script(spec: RunSpec) -> str:
    """The script of a run on a surface: the point (x, y) held as the neuron's bias and weight (the
    page's layout: Muon takes the 2-D weight, y), f as torch operations, the loop and its rows."""
    surface = SURFACES[spec.surface.name]
    shown = optimizer_kwargs(spec)
    schedule = SCHEDULES[spec.schedule.name]
    scheduled = spec.schedule.name != "none"
    split = spec.optimizer.name == "muon"
    source = surface.source(spec.surface.values)
    lines = [
        "import torch",
        *(["import torch.nn.functional as F"] if "F." in source else []),
        *(["from torch.optim import lr_scheduler"] if scheduled else []),
        "",
        "",
        "def f(x, y):",
        f"    # {surface.title}: {surface.expression(spec.surface.values).text}",
        f"    return {source}",
        "",
        "",
        "# the point (x, y): y in the weight (1 × 1) of a Linear(1, 1), x in its bias, as the page holds them",
        "model = torch.nn.Linear(1, 1)",
        "with torch.no_grad():",
        f"    model.weight.fill_({spec.init_weight!r})  # y",
        f"    model.bias.fill_({spec.init_bias!r})  # x",
        *_optimizer_lines(spec, shown),
        *([f"scheduler = {schedule.source(spec.schedule.values, spec.schedule_steps)}"] if scheduled else []),
        *([f"adamw_scheduler = {schedule.source(spec.schedule.values, spec.schedule_steps).replace('(optimizer,', '(adamw,')}"]
          if scheduled and split else []),
        "",
        "",
        "def row(step, loss):",
        ('    print(f"{step},{model.bias.item()!r},{model.weight.item()!r},{loss!r},{optimizer.param_groups[0][\'lr\']!r}")'
         if scheduled else '    print(f"{step},{model.bias.item()!r},{model.weight.item()!r},{loss!r}")'),
        "",
        "",
        f'print("step,x,y,loss{",lr" if scheduled else ""}")',
        f"for step in range({spec.epochs}):",
    ]
    body, _ = _step_lines(spec, split, True)
    lines += ["    " + line if line else "" for line in body]
    lines += ["with torch.no_grad():", f"    row({spec.steps}, {_loss_source(spec)}.item())", ""]
    return "\n".join(lines)


def torch_script(spec: RunSpec) -> str:
    """Python source, runnable as is, that trains the spec's run and prints its trajectory.

    Rows as the toy lab's: row k is the weight and bias after k optimizer steps and the loss
    on the whole data set at those parameters. On a surface, row k is the point (x, y) and f there.
    """
    if spec.surface.on:
        return _surface_script(spec)
    data = spec.data
    loss_row = LOSSES[spec.loss.name]
    shown = optimizer_kwargs(spec)
    full_batch = spec.batch >= data.n
    if loss_row.problem == "classification":
        draw = [f"# data: two classes, y = 1 where {CLASS_SCORE_TEXT} + {data.noise!r}·noise > 0",
                f"np.random.seed({data.seed})",
                f"x = np.array(np.random.randn({data.n}), dtype=np.float32)",
                f"y = np.array({CLASS_SCORE_SOURCE} + {data.noise!r} * np.random.randn({data.n}) > 0, "
                "dtype=np.float32)"]
    else:
        draw = [f"# data: y = {TRUE_CURVE_TEXT} + {data.noise!r}·noise, drawn as the classic experiment draws it",
                f"np.random.seed({data.seed})",
                f"x = np.array(np.random.randn({data.n}), dtype=np.float32)",
                f"y = np.array({TRUE_CURVE_SOURCE} + {data.noise!r} * np.random.randn({data.n}), "
                "dtype=np.float32)"]
    if data.standardize:
        draw += ["# the neuron sees the standardized feature: zero mean, unit variance",
                 "x64 = x.astype(np.float64)",
                 "x = np.array((x64 - x64.mean()) / x64.std(), dtype=np.float32)"]
    elif (data.x_scale, data.x_offset) != (1.0, 0.0):
        draw += ["# the neuron sees the feature in other units, not centred: x' = x_scale·x + x_offset",
                 f"x = np.array({data.x_scale!r} * x.astype(np.float64) + {data.x_offset!r}, dtype=np.float32)"]
    schedule = SCHEDULES[spec.schedule.name]
    scheduled = spec.schedule.name != "none"
    split = spec.optimizer.name == "muon"  # Muon for the weight matrix, AdamW for the bias
    lines = [
        "import numpy as np",
        "import torch",
        *(["from torch.optim import lr_scheduler"] if scheduled else []),
        "",
        *draw,
        "X = torch.tensor(x).reshape(-1, 1)",
        "Y = torch.tensor(y).reshape(-1, 1)",
        "",
        "model = torch.nn.Linear(1, 1)",
        "with torch.no_grad():",
        f"    model.weight.fill_({spec.init_weight!r})",
        f"    model.bias.fill_({spec.init_bias!r})",
        f"loss_fn = torch.nn.{loss_call(spec)}",
        *_optimizer_lines(spec, shown),
        *([f"scheduler = {schedule.source(spec.schedule.values, spec.schedule_steps)}"] if scheduled else []),
        *([f"adamw_scheduler = {schedule.source(spec.schedule.values, spec.schedule_steps).replace('(optimizer,', '(adamw,')}"]
          if scheduled and split else []),
        "",
        "",
        "def row(step, loss):",
        ('    print(f"{step},{model.weight.item()!r},{model.bias.item()!r},{loss!r},{optimizer.param_groups[0][\'lr\']!r}")'
         if scheduled else '    print(f"{step},{model.weight.item()!r},{model.bias.item()!r},{loss!r}")'),
        "",
        "",
        f'print("step,weight,bias,loss{",lr" if scheduled else ""}")',
    ]
    if full_batch:
        lines += [f"for step in range({spec.epochs}):", "    xb, yb = X, Y"]
        indent = "    "
    else:
        lines += [
            f"generator = torch.Generator().manual_seed({spec.batch_seed})",
            "step = 0",
            f"for epoch in range({spec.epochs}):",
            f"    order = torch.randperm({data.n}, generator=generator)",
            f"    for start in range(0, {data.n}, {spec.batch}):",
            f"        index = order[start:start + {spec.batch}]",
            "        xb, yb = X[index], Y[index]",
        ]
        indent = "        "
    body, steppers = _step_lines(spec, split, full_batch)
    lines += [indent + line if line else "" for line in body]
    if scheduled and not full_batch and spec.schedule.per_epoch:
        lines += [f"    {steppers[0]}  # per epoch: after the epoch's last batch", *(f"    {s}" for s in steppers[1:])]
    lines += ["with torch.no_grad():", f"    row({spec.steps}, loss_fn(model(X), Y).item())", ""]
    return "\n".join(lines)
