"""Which public tests check which graded function of a lecture (introduced with Lecture 01).

A *graded* function or class is a top-level definition holding a graded region (``### BEGIN
SOLUTION`` in a solution, ``# YOUR CODE HERE`` in an exercise). A test *reaches* every name
``sub.<name>`` (or ``getattr(sub, "<name>")``) in its body or in the test file's helper functions
it refers to, transitively. The rule: a test belongs to the graded function it reaches that comes
*last in the notebook*, so that its check cell runs once everything the test calls is defined
(``test_mlp_backward`` calls ``mlp_forward`` and ``mlp_backward``: it belongs to
``mlp_backward``). A test that reaches no graded function (it builds an ungraded class that uses
graded ones) runs only in the final ``check()``; a graded function that owns no test is checked
with the later function whose tests call it.
"""

from __future__ import annotations

import ast

from course_lib.regions import BEGIN

GRADED_MARKERS = {BEGIN, "# YOUR CODE HERE"}


def graded_functions(source: str) -> list[str]:
    """The top-level functions and classes of a lecture file holding a graded region, in order."""
    lines = source.splitlines()
    return [
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and any(line.strip() in GRADED_MARKERS for line in lines[node.lineno - 1 : node.end_lineno])
    ]


def reached_names(source: str) -> dict[str, list[str]]:
    """For each ``test_*`` function, the ``sub`` attributes it reaches, helpers included."""
    functions = {
        node.name: node
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }

    def direct(node: ast.AST) -> tuple[set[str], set[str]]:
        names, helpers = set(), set()
        for child in ast.walk(node):
            if isinstance(child, ast.Attribute) and getattr(child.value, "id", None) == "sub":
                names.add(child.attr)
            elif (
                isinstance(child, ast.Call)
                and getattr(child.func, "id", None) == "getattr"
                and len(child.args) >= 2
                and getattr(child.args[0], "id", None) == "sub"
                and isinstance(child.args[1], ast.Constant)
            ):
                names.add(str(child.args[1].value))
            elif isinstance(child, ast.Name) and child.id in functions and child is not node:
                helpers.add(child.id)
        return names, helpers

    reached = {}
    for name in functions:
        if not name.startswith("test_"):
            continue
        seen, todo, names = set(), [name], set()
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            found, helpers = direct(functions[current])
            names |= found
            todo += sorted(helpers - seen)
        reached[name] = sorted(names)
    return reached


def owners_of(reached: dict[str, list[str]], functions: list[str]) -> dict[str, str | None]:
    """Map each test to the last, in ``functions``' order, of the graded functions it reaches."""
    order = {name: index for index, name in enumerate(functions)}
    owners = {}
    for test, names in reached.items():
        graded = [name for name in names if name in order]
        owners[test] = max(graded, key=order.__getitem__) if graded else None
    return owners


def owners_by_test(source: str, functions: list[str]) -> dict[str, str | None]:
    """Map each test of ``source`` (in file order) to the graded function it belongs to.

    Args:
        source: an autograder test file's text.
        functions: the notebook's graded functions and classes, in notebook order.

    Returns:
        ``{test_name: function}``, the function being None for a test reaching none of them.
    """
    return owners_of(reached_names(source), functions)
