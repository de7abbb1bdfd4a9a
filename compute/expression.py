"""A typed formula in x and y, read into torch operations from a small whitelist; never evaluated as Python.

The text is parsed by Python's own parser (``ast.parse``: it builds a tree and runs nothing), then every
node of the tree is checked against the whitelist below before anything is computed; what is left is
turned into a tree of torch calls. Allowed:

- numbers (finite), the variables ``x`` and ``y``, the constants ``pi`` and ``e``, and the named
  arguments a surface of the registry gives (Rosenbrock's ``a`` and ``b``);
- ``+ - * /``, powers ``**`` (or ``^``), unary minus and plus, parentheses;
- the functions of ``FUNCTIONS`` (sin, cos, exp, log, sqrt, abs, tanh, …), one argument each.

The page's notation is accepted too: ``×``, ``·``, ``÷``, ``−``, ``²`` and ``³``. Anything else
(names, attributes, calls of other things, subscripts, comparisons, lambdas, strings) is refused
with one sentence, and so is text over MAX_LENGTH characters, a tree deeper than MAX_DEPTH or with
more than MAX_NODES nodes, a number that is not finite and a constant exponent larger than
MAX_EXPONENT, and a formula without x or y (nothing to descend). A part without x or y (``2*pi``,
Rosenbrock's ``b``) is reduced to one number in float64 torch arithmetic on 0-d tensors, never in
Python's, so ``9**9**9`` cannot hang (it is refused anyway: its exponent is too large); that number
meets the tensors as a Python float, as it does in the torch source ``Expression.source`` writes, so
the Code tab's script computes the page's numbers bit for bit. ``1/x`` at 0 is torch's inf, which a
run reports as divergence (and a start point where f is not finite is refused: compute/specs.py).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from compute.errors import InvalidSpec

MAX_LENGTH = 200
MAX_DEPTH = 24
MAX_NODES = 120
MAX_EXPONENT = 100.0

Tensor = torch.Tensor

# name → (torch function, how the Code tab writes it)
FUNCTIONS: dict[str, tuple[Callable[[Tensor], Tensor], str]] = {
    "sin": (torch.sin, "torch.sin"), "cos": (torch.cos, "torch.cos"), "tan": (torch.tan, "torch.tan"),
    "exp": (torch.exp, "torch.exp"), "log": (torch.log, "torch.log"), "sqrt": (torch.sqrt, "torch.sqrt"),
    "abs": (torch.abs, "torch.abs"), "tanh": (torch.tanh, "torch.tanh"), "sinh": (torch.sinh, "torch.sinh"),
    "cosh": (torch.cosh, "torch.cosh"), "atan": (torch.atan, "torch.atan"),
    "sigmoid": (torch.sigmoid, "torch.sigmoid"), "softplus": (torch.nn.functional.softplus, "F.softplus"),
}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLES = ("x", "y")
# Python's operators, as the script writes them: a tensor meets a number as torch's x * 2.0 does
_OPERATORS: dict[type, tuple[Callable[[Any, Any], Any], str]] = {
    ast.Add: (operator.add, "+"), ast.Sub: (operator.sub, "-"), ast.Mult: (operator.mul, "*"),
    ast.Div: (operator.truediv, "/"), ast.Pow: (operator.pow, "**"),
}
# read as ** before parsing (Python's ^ binds looser than +: x^2+y would be x^(2+y))
_PAGE_NOTATION = {"^": "**", "×": "*", "·": "*", "÷": "/", "−": "-", "²": "**2", "³": "**3"}
ALLOWED_TEXT = ("numbers, x and y, + − * / and ** (or ^), parentheses, pi, e and "
                + ", ".join(f"{name}()" for name in FUNCTIONS))


@dataclass(frozen=True)
class Expression:
    """A checked formula: ``evaluate(x, y, values)`` is its value on tensors (elementwise, broadcast),
    ``source(values)`` the same formula as torch code over tensors named x and y, the same operations
    on the same numbers (so the Code tab's script computes what the page does, bit for bit)."""

    text: str
    tree: ast.expr
    names: frozenset[str]
    varying: frozenset[int]  # id() of the nodes that hold x or y

    def evaluate(self, x: Tensor, y: Tensor, values: Mapping[str, float] | None = None) -> Tensor:
        """f(x, y) in x's dtype. A part without x or y (``2*pi``, Rosenbrock's ``b``) is first reduced
        to one number in float64 torch arithmetic; that number meets the tensors as a Python float, as
        it does in the script ``source`` writes."""
        names = {**CONSTANTS, **(values or {})}
        result = self._value(self.tree, {"x": x, "y": y}, names)
        # a variable the formula leaves out still meets it, times 0.0: its gradient is then 0 (torch
        # would leave its .grad None and skip it, weight decay and all), the value the same while finite
        for name, variable in (("x", x), ("y", y)):
            if name not in self.names:
                result = result + variable * 0.0
        return result

    def _value(self, node: ast.expr, env: dict[str, Tensor], names: Mapping[str, float]) -> Tensor | float:
        if id(node) not in self.varying:
            return _fold(node, names)
        if isinstance(node, ast.BinOp):
            return _OPERATORS[type(node.op)][0](self._value(node.left, env, names),
                                                self._value(node.right, env, names))
        if isinstance(node, ast.UnaryOp):
            inner = self._value(node.operand, env, names)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.Call):
            return FUNCTIONS[node.func.id][0](self._value(node.args[0], env, names))  # type: ignore[attr-defined]
        return env[node.id]  # type: ignore[attr-defined]

    def source(self, values: Mapping[str, float] | None = None) -> str:
        """The formula as torch code over tensors x and y (parts without x or y as their number; a
        variable it leaves out added times 0.0, as ``evaluate`` adds it)."""
        text = self._source(self.tree, {**CONSTANTS, **(values or {})}, 0)
        return text + "".join(f" + {name} * 0.0" for name in VARIABLES if name not in self.names)

    def _source(self, node: ast.expr, names: Mapping[str, float], outer: int) -> str:
        if id(node) not in self.varying:
            value = _fold(node, names)
            text = repr(value) if math.isfinite(value) else f'float("{value}")'  # (inf is no Python name)
            return f"({text})" if value < 0 and outer >= 3 else text
        if isinstance(node, ast.BinOp):
            level = _PRECEDENCE[type(node.op)]
            power = level == 4  # right-associative: a ** b ** c is a ** (b ** c)
            left = self._source(node.left, names, level + (1 if power else 0))
            right = self._source(node.right, names, level if power else level + 1)
            text = f"{left} {_OPERATORS[type(node.op)][1]} {right}"
            return f"({text})" if level < outer else text
        if isinstance(node, ast.UnaryOp):
            text = ("-" if isinstance(node.op, ast.USub) else "+") + self._source(node.operand, names, 3)
            return f"({text})" if outer >= 3 else text
        if isinstance(node, ast.Call):
            name = node.func.id  # type: ignore[attr-defined]
            return f"{FUNCTIONS[name][1]}({self._source(node.args[0], names, 0)})"
        return node.id  # type: ignore[attr-defined]


def _fail(message: str) -> InvalidSpec:
    return InvalidSpec(message, "expression")


def parse(text: object, names: tuple[str, ...] = ()) -> Expression:
    """The formula ``text`` checked against the whitelist; ``names`` are arguments it may use besides
    x and y. Raises InvalidSpec with one sentence saying what is wrong, never Python's own error."""
    return _parse(text if isinstance(text, str) else repr(type(text)), tuple(names), isinstance(text, str))


@lru_cache(maxsize=256)
def _parse(text: str, names: tuple[str, ...], is_text: bool) -> Expression:
    if not is_text:
        raise _fail("the expression must be text")
    if len(text) > MAX_LENGTH:
        raise _fail(f"the expression is {len(text)} characters long; it may have at most {MAX_LENGTH}")
    plain = text
    for mark, written in _PAGE_NOTATION.items():
        plain = plain.replace(mark, written)
    if not plain.strip():
        raise _fail("the expression is empty: write a formula in x and y, such as x**2 + 3*y**2")
    if not plain.isprintable():
        raise _fail("the expression holds a character that cannot be typed (a control character)")
    try:
        tree = ast.parse(plain.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as err:
        where = f" near character {err.offset}" if isinstance(err, SyntaxError) and err.offset else ""
        raise _fail(f"could not read the expression{where}: write products with * (2*x, not 2x) and use only "
                    f"{ALLOWED_TEXT}") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise _fail(f"the expression has {len(nodes)} parts; it may have at most {MAX_NODES}")
    if _depth(tree) > MAX_DEPTH:
        raise _fail(f"the expression is nested more than {MAX_DEPTH} levels deep")
    known = {*VARIABLES, *CONSTANTS, *names}
    used = set()
    called = {id(node.func) for node in nodes if isinstance(node, ast.Call)}
    for node in nodes:
        if id(node) in called and isinstance(node, ast.Name) and node.id in FUNCTIONS:
            continue  # the name of a function called: its call is checked
        _check_node(node, known)
        if isinstance(node, ast.Name):
            used.add(node.id)
    varying = frozenset(id(node) for node in nodes
                        if any(isinstance(n, ast.Name) and n.id in VARIABLES for n in ast.walk(node)))
    if id(tree.body) not in varying:
        raise _fail("the formula does not depend on x or y: there is nothing to descend (write one in x and y)")
    _check_constants(tree.body)
    return Expression(text, tree.body, frozenset(used), varying)


def _depth(tree: ast.AST) -> int:
    """The tree's depth, counted without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


_REFUSED = {ast.Attribute: "attributes (a.b)", ast.Subscript: "subscripts (a[b])", ast.Compare: "comparisons",
            ast.BoolOp: "and/or", ast.Lambda: "lambda", ast.IfExp: "if/else", ast.Tuple: "tuples (a, b)"}


def _check_node(node: ast.AST, known: set[str]) -> None:
    """InvalidSpec unless the node is one the whitelist allows (each node on its own: the caller walks
    the tree)."""
    if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.unaryop)):
        return  # the tree's root, and the symbols of operators (their BinOp or UnaryOp is checked)
    check = _CHECKS.get(type(node))
    if check is None:
        named = next((text for kind, text in _REFUSED.items() if isinstance(node, kind)), type(node).__name__)
        raise _fail(f"the expression may not hold {named}: use only {ALLOWED_TEXT}")
    check(node, known)


def _check_binop(node: ast.BinOp, known: set[str]) -> None:
    if type(node.op) not in _OPERATORS:
        raise _fail(f"the expression may use only + − * / and ** between terms: use only {ALLOWED_TEXT}")


def _check_unary(node: ast.UnaryOp, known: set[str]) -> None:
    if not isinstance(node.op, (ast.UAdd, ast.USub)):
        raise _fail("only − and + may stand before a term")


def _check_constant(node: ast.Constant, known: set[str]) -> None:
    if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
        raise _fail(f"{node.value!r:.30} is not a number: use only {ALLOWED_TEXT}")
    if isinstance(node.value, float) and not math.isfinite(node.value):
        raise _fail("a number in the expression is too large (it is not finite in floating point)")


def _check_name(node: ast.Name, known: set[str]) -> None:
    if node.id in FUNCTIONS:
        raise _fail(f"{node.id} is a function: write {node.id}(x)")
    if node.id not in known:
        others = ", ".join(sorted(known - set(VARIABLES)))
        raise _fail(f"unknown name {node.id!r:.30}: use x and y" + (f", and {others}" if others else ""))


def _check_call(node: ast.Call, known: set[str]) -> None:
    name = node.func.id if isinstance(node.func, ast.Name) else None
    if name not in FUNCTIONS:
        raise _fail(f"only these functions may be called: {', '.join(FUNCTIONS)}")
    if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
        raise _fail(f"{name}() takes one argument, as in {name}(x)")


_CHECKS: dict[type, Callable[[Any, set[str]], None]] = {
    ast.BinOp: _check_binop, ast.UnaryOp: _check_unary, ast.Constant: _check_constant, ast.Name: _check_name,
    ast.Call: _check_call,
}


def _check_constants(tree: ast.expr) -> None:
    """Refuse a power whose exponent is a constant larger than MAX_EXPONENT (9**9**9), or a constant
    part that is not finite (1e300*1e300): checked in float64 on tensors, so nothing runs in Python."""
    def constant(node: ast.expr) -> float | None:
        if any(isinstance(n, ast.Name) and n.id in VARIABLES for n in ast.walk(node)):
            return None
        if any(isinstance(n, ast.Name) and n.id not in CONSTANTS for n in ast.walk(node)):
            return None  # a surface's argument: its value is checked by its own range
        return _fold(node, CONSTANTS)

    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = constant(node.right)
            if exponent is not None and not abs(exponent) <= MAX_EXPONENT:
                raise _fail(f"an exponent may be at most {MAX_EXPONENT:g} in size (got {exponent:.3g})")
    whole = constant(tree)
    if whole is not None and not math.isfinite(whole):
        raise _fail("the expression is not a finite number")


def _fold(node: ast.expr, names: Mapping[str, float]) -> float:
    """A part without x or y as one number: float64 torch arithmetic on 0-d tensors, never Python's
    (so no power of integers can run away)."""
    def value(n: ast.expr) -> Tensor:
        if isinstance(n, ast.BinOp):
            return _OPERATORS[type(n.op)][0](value(n.left), value(n.right))
        if isinstance(n, ast.UnaryOp):
            return torch.neg(value(n.operand)) if isinstance(n.op, ast.USub) else value(n.operand)
        if isinstance(n, ast.Call):
            return FUNCTIONS[n.func.id][0](value(n.args[0]))  # type: ignore[attr-defined]
        if isinstance(n, ast.Name):
            return torch.tensor(float(names[n.id]), dtype=torch.float64)
        return torch.tensor(float(n.value), dtype=torch.float64)  # type: ignore[attr-defined]

    return float(value(node))


_PRECEDENCE = {ast.Add: 1, ast.Sub: 1, ast.Mult: 2, ast.Div: 2, ast.Pow: 4}
