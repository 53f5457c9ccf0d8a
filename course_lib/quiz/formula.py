"""Parametrised quiz questions: a restricted arithmetic evaluator and seeded parameter draws.

Introduced with the quiz bank (all lectures). A numeric question may carry ``params`` and an
``answer_formula`` such as ``floor((h + 2*p - k) / s) + 1``. The formula is parsed with :mod:`ast`
and only an allow-list of arithmetic nodes and functions is evaluated; ``eval`` is never used.

Parameter specs (in YAML):

- ``[lo, hi]`` (exactly two integers): every integer from ``lo`` to ``hi`` inclusive;
- ``[a, b, c, ...]`` (one, or three or more values): one of these values;
- ``{choices: [a, b]}``: one of these values (use it for a two-value choice list).
"""

from __future__ import annotations

import ast
import functools
import itertools
import math
import operator
import random
from collections.abc import Mapping

Number = int | float

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
FUNCTIONS = {
    "floor": math.floor,
    "ceil": math.ceil,
    "sqrt": math.sqrt,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "exp": math.exp,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_MAX_EXPONENT = 64


class FormulaError(ValueError):
    """A formula that uses a forbidden construct or cannot be evaluated."""


@functools.lru_cache(maxsize=1024)
def parse_formula(source: str) -> ast.Expression:
    """Parse ``source`` and check that it only uses allowed nodes; return the tree."""
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise FormulaError(
            f"expected an arithmetic expression; received {source!r} ({exc.msg})"
        ) from None
    for node in ast.walk(tree):
        allowed = (
            ast.Expression,
            ast.BinOp,
            ast.UnaryOp,
            ast.Constant,
            ast.Name,
            ast.Call,
            ast.Load,
            *_BINARY,
            *_UNARY,
        )
        if not isinstance(node, allowed):
            raise FormulaError(f"{type(node).__name__} is not allowed in a formula: {source!r}")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            raise FormulaError(f"only numbers are allowed as constants; received {node.value!r}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise FormulaError(
                    f"only the functions {', '.join(sorted(FUNCTIONS))} may be called in {source!r}"
                )
            if node.keywords:
                raise FormulaError(f"keyword arguments are not allowed in {source!r}")
    return tree


def formula_names(source: str) -> set[str]:
    """Return the variable names a formula reads (functions and constants excluded)."""
    tree = parse_formula(source)
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return names - called - set(CONSTANTS)


def evaluate(source: str, variables: Mapping[str, Number]) -> float:
    """Evaluate an allowed formula with ``variables``; the result must be a finite number."""
    tree = parse_formula(source)
    try:
        value = _eval(tree.body, variables)
    except FormulaError:
        raise
    except ZeroDivisionError:
        raise FormulaError(f"division by zero in {source!r} for {_show(variables)}") from None
    except (ValueError, OverflowError, TypeError) as exc:
        raise FormulaError(f"{exc} in {source!r} for {_show(variables)}") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise FormulaError(f"{source!r} gives {value!r} (not finite) for {_show(variables)}")
    return value


def _eval(node: ast.AST, variables: Mapping[str, Number]) -> Number:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id in variables:
            return variables[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise FormulaError(f"unknown name {node.id!r}; expected one of {sorted(variables)}")
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, variables))
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, variables), _eval(node.right, variables)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise FormulaError(f"exponent {right} is larger than {_MAX_EXPONENT}")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call):
        args = [_eval(arg, variables) for arg in node.args]
        return FUNCTIONS[node.func.id](*args)
    raise FormulaError(f"{type(node).__name__} is not allowed in a formula")


def _show(variables: Mapping[str, Number]) -> str:
    return ", ".join(f"{k}={v}" for k, v in variables.items()) or "no parameters"


def spec_values(spec: object) -> tuple[str, list[Number]]:
    """Return ``("range", [lo, hi])`` or ``("choices", values)`` for one parameter spec."""
    if isinstance(spec, Mapping):
        if set(spec) != {"choices"}:
            raise ValueError(f"expected {{choices: [...]}}; received keys {sorted(spec)}")
        spec = spec["choices"]
        kind = "choices"
    else:
        kind = None
    if not isinstance(spec, list) or not spec:
        raise ValueError(f"expected a non-empty list of numbers; received {spec!r}")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec):
        raise ValueError(f"expected numbers only; received {spec!r}")
    if kind is None and len(spec) == 2 and all(isinstance(v, int) for v in spec):
        lo, hi = spec
        if lo > hi:
            raise ValueError(f"expected a range [lo, hi] with lo <= hi; received {spec!r}")
        return "range", [lo, hi]
    return "choices", list(spec)


def draw(params: Mapping[str, object], rng: random.Random) -> dict[str, Number]:
    """Draw one value per parameter with ``rng`` (in the order the parameters are written)."""
    values: dict[str, Number] = {}
    for name, spec in params.items():
        kind, vals = spec_values(spec)
        values[name] = rng.randint(vals[0], vals[1]) if kind == "range" else rng.choice(vals)
    return values


def corners(params: Mapping[str, object], limit: int = 512) -> list[dict[str, Number]]:
    """Return the combinations of each range's ends and each choice list's values."""
    axes = []
    for name, spec in params.items():
        _, vals = spec_values(spec)
        axes.append([(name, v) for v in dict.fromkeys(vals)])
    combos = itertools.islice(itertools.product(*axes), limit)
    return [dict(combo) for combo in combos]


def _values(spec: object) -> list[Number]:
    kind, vals = spec_values(spec)
    return list(range(vals[0], vals[1] + 1)) if kind == "range" else list(dict.fromkeys(vals))


def grid_size(params: Mapping[str, object]) -> int:
    """How many combinations the parameters allow."""
    return math.prod(len(_values(spec)) for spec in params.values())


def grid(params: Mapping[str, object]) -> list[dict[str, Number]]:
    """Every combination of parameter values (use when :func:`grid_size` is small)."""
    names = list(params)
    combos = itertools.product(*(_values(params[n]) for n in names))
    return [dict(zip(names, combo, strict=True)) for combo in combos]


def as_number(value: float) -> Number:
    """Return an integral float as int (so 13.0 shows as 13), other values unchanged."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def parse_number(value: object) -> float:
    """Parse a numeric answer written as a number or a string ("0.25", "1e-3")."""
    number = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().replace("_", ""))
        except ValueError:
            pass
    if not math.isfinite(number):
        raise ValueError(f"the numeric answer {value!r} does not parse as a number")
    return number
