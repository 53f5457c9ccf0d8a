"""Automatic mutants of every graded region (introduced with Lecture 01's grader; issue 22).

``camp mutants --auto [NN]`` complements the hand-written catalogue (``course_lib.grading.
mutants``): it mutates every ``### BEGIN/END SOLUTION`` region of ``solutions/NN_topic.py`` with
the operator set of the maintained mutation tools, grades the mutants with the catalogue's warm
runner and reports the score without the equivalent mutants listed in
``tests/mutants/equivalent/NN_topic.yaml`` (``course_lib.grading.auto_report`` runs and reports).

Why our own generator on Python's ``ast`` rather than mutmut 3 or cosmic-ray (both evaluated):
their runners mutate a package and run pytest over it, which fits neither graded regions of a
jupytext lecture nor our autograder. Their operators can be called one by one, but mutmut's live
in an internal module that moved between 3.x releases (``node_mutation`` to
``mutation.mutators``) and cosmic-ray counts occurrences over a whole file; both would bring a
dozen packages (textual, sqlalchemy, aiohttp...) into the course's dependencies, and neither
changes keyword arguments (``axis=``, ``training=``, ``from_logits=``), swaps arguments or
functions (``GlobalMaxPooling2D`` for ``GlobalAveragePooling2D``), removes a call or a statement:
the mistakes issue 22 found students make. So we borrow their operators (mutmut's one-for-one
operator replacement, cosmic-ray's +1/-1 numbers and added ``not``) and add those.

A mutant's id hashes its function, operator, the replaced text and its replacement (and which of
identical such edits it is), never line numbers, so it survives unrelated edits. The list is the
same on every run; when a lecture has more than ``limit`` mutants, a deterministic sample is
taken: functions in turn, each giving its mutants in id order."""

from __future__ import annotations

import ast
import copy
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from course_lib.regions import BEGIN, END

BINOPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
BINOPS |= {ast.FloorDiv: ast.Div, ast.Mod: ast.Div, ast.Pow: ast.Mult, ast.MatMult: ast.Mult}
BINOPS |= {ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitAnd}
COMPARES = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq}
COMPARES |= {ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn}
COMPARES |= {ast.NotIn: ast.In}
# Functions, methods and layers students confuse (attribute names; builtins for plain names).
SWAPS = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum"}
SWAPS |= {"argmax": "argmin", "argmin": "argmax", "mean": "sum", "sum": "mean", "all": "any"}
SWAPS |= {"any": "all", "reduce_mean": "reduce_sum", "reduce_sum": "reduce_mean"}
SWAPS |= {"reduce_max": "reduce_mean", "floor": "ceil", "ceil": "floor", "exp": "log"}
SWAPS |= {"GlobalAveragePooling2D": "GlobalMaxPooling2D", "GlobalMaxPooling2D": "Flatten"}
SWAPS |= {"AveragePooling2D": "MaxPooling2D", "MaxPooling2D": "AveragePooling2D"}
SWAPS |= {"Conv2D": "Dense", "relu": "sigmoid", "sigmoid": "tanh", "softmax": "sigmoid"}
# String arguments students get wrong (padding, activations, monitored metric, modes).
STRINGS = {"same": "valid", "valid": "same", "relu": "linear", "gelu": "relu", "swish": "relu"}
STRINGS |= {"sigmoid": "linear", "softmax": "linear", "tanh": "linear", "max": "min"}
STRINGS |= {"min": "max", "mean": "sum", "sum": "mean", "pre": "post", "post": "pre"}
STRINGS |= {"val_loss": "loss", "val_accuracy": "accuracy", "auto": "min"}
NO_STRIP = {"range", "super", "isinstance", "print", "len", "enumerate", "zip", "type", "getattr"}
ATOMS = (ast.Name, ast.Constant, ast.Call, ast.Attribute, ast.Subscript, ast.List, ast.Tuple)


@dataclass(frozen=True)
class AutoMutant:
    """One generated mutant: where, which operator, what changed, and the mutated file."""

    id: str
    function: str  # Qualified name (Class.method) of the innermost def around the edit.
    operator: str
    line: int
    original: str  # The replaced source text, as written.
    mutated: str  # Its replacement.
    source: str = field(repr=False, compare=False)


def regions(source: str) -> list[tuple[int, int]]:
    """Line numbers ``(begin, end)`` of the BEGIN and END SOLUTION markers, 1-based."""
    spans, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == BEGIN:
            start = number
        elif line.strip() == END and start is not None:
            spans.append((start, number))
            start = None
    return spans


def generate(source: str, limit: int | None = None) -> list[AutoMutant]:
    """Every mutant of the graded regions of ``source`` (a sample of ``limit`` when given)."""
    tree = ast.parse(source)
    spans, lines = regions(source), source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    modules = {a.asname or a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
               for a in n.names}  # fmt: skip
    modules |= {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                for a in n.names}  # fmt: skip

    def offset(line: int, col: int) -> int:  # ast columns count UTF-8 bytes.
        return starts[line - 1] + len(lines[line - 1].encode()[:col].decode(errors="replace"))

    found: dict[str, list[AutoMutant]] = {}
    seen: dict[tuple, int] = {}
    for function, node, bound, top in _graded_nodes(tree, spans):
        top_start, top_end = offset(top.lineno, 0), offset(top.end_lineno, top.end_col_offset)
        for operator, target, text in _mutations(node, modules, bound):
            start = offset(target.lineno, target.col_offset)
            end = offset(target.end_lineno, target.end_col_offset)
            original = source[start:end]
            if isinstance(target, ast.expr) and not _atomic(text):
                text = f"({text})"  # Keeps the precedence of the surrounding expression.
            key = (function, operator, original, text)
            seen[key] = seen.get(key, -1) + 1
            digest = hashlib.sha1(repr((*key, seen[key])).encode()).hexdigest()[:10]
            mutant = AutoMutant(
                f"{operator}-{digest}", function, operator, target.lineno, original, text,
                source[:start] + text + source[end:],
            )  # fmt: skip
            statement = source[top_start:start] + text + source[end:top_end]
            found.setdefault(function, []).append((mutant, statement))
    chosen, taken = [], set()
    queues = [sorted(pairs, key=lambda pair: pair[0].id) for pairs in found.values()]
    while queues and (limit is None or len(chosen) < limit):
        for queue in list(queues):
            while queue:
                mutant, statement = queue.pop(0)
                digest = hashlib.sha1(mutant.source.encode()).digest()
                if digest not in taken and mutant.source != source and _parses(statement):
                    chosen.append(mutant)
                    taken.add(digest)
                    break
            if not queue:
                queues.remove(queue)
            if limit is not None and len(chosen) >= limit:
                break
    return sorted(chosen, key=lambda m: (m.line, m.id))


def _atomic(text: str) -> bool:
    """True when ``text`` is an expression that binds tighter than any operator."""
    try:
        return isinstance(ast.parse(text, mode="eval").body, ATOMS)
    except SyntaxError:
        return True


def _parses(statement: str) -> bool:
    """True when the mutated top-level statement (a def or class) is still valid Python."""
    try:
        ast.parse(statement)
    except SyntaxError:
        return False
    return True


def _graded_nodes(tree: ast.Module, spans: list[tuple[int, int]]) -> Iterator[tuple]:
    """``(function, node, names bound before it, top-level statement)`` of each graded node."""

    def inside(node: ast.AST) -> bool:
        line, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0)
        return any(begin < line and end < stop for begin, stop in spans)

    def visit(node: ast.AST, name: str, bound: set[str], top: ast.AST) -> Iterator[tuple]:
        for child in ast.iter_child_nodes(node):
            top = child if node is tree else top
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{name}.{child.name}" if name else child.name
                args = ast.walk(child.args) if hasattr(child, "args") else ()
                params = {a.arg for a in args if isinstance(a, ast.arg)}
                yield from visit(child, inner, set(bound) | params, top)
                bound.add(child.name)
            elif isinstance(child, ast.JoinedStr | ast.arg) or _is_docstring(child):
                continue
            elif child in _annotations(node):
                continue
            else:
                if inside(child) and name:
                    yield name, child, frozenset(bound), top
                yield from visit(child, name, bound, top)
                if isinstance(child, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.For):
                    targets = getattr(child, "targets", None) or [child.target]
                    bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}

    yield from visit(tree, "", set(), tree)


def _annotations(node: ast.AST) -> list[ast.AST]:
    return [getattr(node, "returns", None), getattr(node, "annotation", None)]


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
        node.value.value, str
    )  # fmt: skip


def _mutations(node: ast.AST, modules: set[str], bound: frozenset) -> Iterator[tuple]:
    """``(operator, node to replace, its replacement text)`` for each way of mutating ``node``."""

    def changed(**fields) -> tuple[ast.AST, str]:
        new = copy.copy(node)
        for name, value in fields.items():
            setattr(new, name, value)
        return node, ast.unparse(new)

    if isinstance(node, ast.BinOp) and type(node.op) in BINOPS:
        yield "binop", *changed(op=BINOPS[type(node.op)]())
        if not isinstance(node.op, ast.Add | ast.Mult | ast.BitAnd | ast.BitOr | ast.BitXor):
            yield "swap-operands", *changed(left=node.right, right=node.left)
    elif isinstance(node, ast.AugAssign):
        if type(node.op) in BINOPS:
            yield "augassign", *changed(op=BINOPS[type(node.op)]())
        yield "augassign-to-assign", node, f"{ast.unparse(node.target)} = {ast.unparse(node.value)}"
    elif isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in COMPARES:
                yield "compare", *changed(ops=[*node.ops[:index], COMPARES[type(op)](),
                                               *node.ops[index + 1 :]])  # fmt: skip
    elif isinstance(node, ast.BoolOp):
        yield "boolop", *changed(op=ast.Or() if isinstance(node.op, ast.And) else ast.And())
    elif isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.UAdd):
        yield "unary-drop", node, ast.unparse(node.operand)
    elif isinstance(node, ast.Constant) and type(node.value) is bool:
        yield "constant", node, repr(not node.value)
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        yield "constant", node, repr(node.value + 1)
        yield "constant", node, repr(node.value - 1)
    elif isinstance(node, ast.Constant) and type(node.value) is float:
        yield "constant", node, repr(node.value + 1.0)
        yield "constant", node, repr(0.0 if node.value else 1.0)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in STRINGS:
        yield "string", node, repr(STRINGS[node.value])
    elif isinstance(node, ast.Attribute) and node.attr in SWAPS:
        yield "swap-function", *changed(attr=SWAPS[node.attr])
    elif isinstance(node, ast.Name) and node.id in ("max", "min", "any", "all"):
        if node.id not in bound:
            yield "swap-function", node, SWAPS[node.id]
    elif isinstance(node, ast.Call):
        yield from _call_mutations(node, modules)
    elif isinstance(node, ast.If | ast.While | ast.IfExp):
        yield "negate", node.test, ast.unparse(ast.UnaryOp(ast.Not(), node.test))
    elif isinstance(node, ast.comprehension):
        for condition in node.ifs:
            yield "negate", condition, ast.unparse(ast.UnaryOp(ast.Not(), condition))
    if (
        isinstance(node, ast.Return)
        and node.value is not None
        and ast.unparse(node.value) != "None"
    ):
        yield "return-none", node, "return None"
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "statement-drop", node, "pass"
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
        targets = getattr(node, "targets", None) or [node.target]
        names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if all(isinstance(t, ast.Name) for t in targets) and names <= bound:
            yield "statement-drop", node, "pass"


def _call_mutations(node: ast.Call, modules: set[str]) -> Iterator[tuple]:
    """Keyword drops and changes, swapped arguments, and the call removed."""

    def call(args: list, keywords: list) -> tuple[ast.AST, str]:
        return node, ast.unparse(ast.Call(node.func, args, keywords))

    for index, keyword in enumerate(node.keywords):
        if keyword.arg is None or keyword.arg == "name":
            continue
        yield "keyword-drop", *call(node.args, [k for k in node.keywords if k is not keyword])
        if keyword.arg == "training" and not isinstance(keyword.value, ast.Constant):
            for value in (True, False):
                new = [*node.keywords[:index], ast.keyword("training", ast.Constant(value))]
                yield "keyword-training", *call(node.args, new + node.keywords[index + 1 :])
    positional = [a for a in node.args if not isinstance(a, ast.Starred)]
    pair = [ast.unparse(a) for a in positional[:2]]
    if len(positional) == len(node.args) >= 2 and pair[0] != pair[1]:
        yield "swap-arguments", *call([node.args[1], node.args[0], *node.args[2:]], node.keywords)
    func, root = node.func, node.func
    while isinstance(root, ast.Attribute):
        root = root.value
    in_module = isinstance(root, ast.Name) and root.id in {*modules, "self"}
    if isinstance(func, ast.Attribute) and not in_module:
        yield (
            "call-drop",
            node,
            ast.unparse(func.value),
        )  # x.astype(t), a.copy(), m.fit() -> x, a, m
    elif positional and not (isinstance(func, ast.Name) and func.id in NO_STRIP):
        name = getattr(func, "attr", getattr(func, "id", ""))
        if not name[:1].isupper():  # Removing a constructor only breaks the code.
            yield "call-drop", node, ast.unparse(positional[0])  # np.abs(z), Dropout(r)(x) -> z, x
