"""Grading and reporting the automatic mutants (introduced with Lecture 01's grader; issue 22).

``camp mutants --auto [NN]`` generates the mutants of ``course_lib.grading.auto_mutants`` and
hands them to the catalogue's warm runner (``course_lib.grading.mutants``): a mutant of function
``f`` runs the tests that call ``f`` or a graded function that calls it (read from the test
files: ``sub.f``), and every test of the lecture when none does. The score leaves out the mutants
that ``tests/mutants/equivalent/NN_topic.yaml`` lists as equivalent, each with a reason.

Equivalent candidates are found by running the survivors once more with the mutated function
wrapped (``trace``): the digest of what it returns, and of the arrays it was given, at every
call the tests make, compared with the unmutated solution's. *Same outputs* marks a candidate:
a human reads the change and, if no input can tell the two apart, adds it with its reason to
the equivalent file (``build/mutants/auto-NN.json`` has the entry ready to paste). *Different
outputs* means the tests saw a wrong result and accepted it; *not observed*, that no test called
the function with concrete values. Each run writes that report for the engineers who strengthen
the tests: score, survivors grouped by function and operator, the tests each ran."""

from __future__ import annotations

import ast
import json
import tempfile
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from rich.markup import escape

from course_lib.errors import CourseError
from course_lib.grading import auto_mutants, mutants
from course_lib.paths import project_root
from course_lib.regions import lecture_files


class Equivalent(BaseModel):
    """A reviewed equivalent mutant: id, where, the change, why no input tells them apart."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    function: str
    change: str
    reason: str


def load_equivalents(path: Path) -> dict[str, Equivalent]:
    """The reviewed equivalent mutants of one lecture, by id; {} when the file does not exist."""
    if not path.is_file():
        return {}
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        items = [Equivalent.model_validate(item) for item in raw]
    except (yaml.YAMLError, ValidationError, TypeError) as error:
        first = str(error).strip().splitlines()[0]
        expected = "a list of {id, function, change, reason}"
        raise CourseError(f"{path}: expected {expected}; {first}") from None
    return {item.id: item for item in items}


def test_map(source: str, test_files: list[Path]) -> dict[str, list[str]]:
    """Top-level graded names (functions, classes) -> the tests that exercise them, file order."""
    tree = ast.parse(source)
    tops = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    uses = {name: _names(node) & set(tops) for name, node in tops.items()}
    callers = {name: {name} for name in tops}
    for name in tops:  # Who reaches ``name``, through any chain of calls in the solution.
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for other, used in uses.items():
                if current in used and other not in callers[name]:
                    callers[name].add(other)
                    frontier.append(other)
    reached: list[tuple[str, set[str]]] = []
    for path in test_files:
        module = ast.parse(path.read_text(encoding="utf-8"))
        helpers = {n.name: n for n in module.body if isinstance(n, ast.FunctionDef)}
        for test in mutants.autograder_tests(path):
            seen, todo, names = set(), [test], set()
            while todo:  # The test and the helpers it calls, transitively.
                helper = todo.pop()
                seen.add(helper)
                names |= _names(helpers[helper], strings=True)
                todo += [n for n in _names(helpers[helper]) & set(helpers) if n not in seen]
            reached.append((test, names))
    everything = [test for test, _ in reached]
    result = {}
    for name in tops:
        tests = [test for test, names in reached if names & callers[name]]
        result[name] = tests or everything
    return result


def _names(node: ast.AST, strings: bool = False) -> set[str]:
    """Names and attributes a node refers to (and string constants, for ``getattr(sub, "f")``)."""
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            found.add(child.id)
        elif isinstance(child, ast.Attribute):
            found.add(child.attr)
        elif strings and isinstance(child, ast.Constant) and isinstance(child.value, str):
            found.add(child.value)
    return found


def run_lecture(root: Path, lecture: str, jobs: int, timeout_s: float, limit: int) -> dict:
    """Generate, grade and trace one lecture's automatic mutants; return the report (as JSON)."""
    started = time.monotonic()
    solution = next(iter(sorted((root / "solutions").glob(f"{lecture}_*.py"))), None)
    if solution is None:
        raise CourseError(
            f"Lecture {lecture}: expected a solution {root}/solutions/{lecture}_*.py."
        )
    source = solution.read_text(encoding="utf-8")
    test_files = mutants.lecture_test_files(root, lecture)
    if not test_files:
        raise CourseError(f"Lecture {lecture}: expected tests/autograder/test_{lecture}_*.py.")
    every = auto_mutants.generate(source)
    sample = auto_mutants.generate(source, limit)
    tests = test_map(source, test_files)
    rows = [_row(m, tests[m.function.split(".")[0]]) for m in sample]
    results = _grade(solution, source, test_files, rows, jobs, timeout_s)
    for row in rows:
        outcome = mutants._outcome(None, results.get(row["id"], _MISSING))
        row["status"] = "caught" if outcome.status == "failed" else "survived"
        row["how"], row["detail"] = outcome.how, outcome.detail
    baseline = mutants._outcome(None, results.get("", _MISSING))
    path = root / "tests" / "mutants" / "equivalent" / f"{solution.stem}.yaml"
    equivalents = load_equivalents(path)
    for row in rows:
        if row["id"] in equivalents:
            row["equivalent"] = equivalents[row["id"]].reason
    scored = [row for row in rows if "equivalent" not in row]
    survivors = [row for row in scored if row["status"] == "survived"]
    _trace_survivors(solution, source, test_files, survivors, jobs, timeout_s)
    caught = sum(row["status"] == "caught" for row in scored)
    candidates = [row for row in survivors if row["outputs"] == "same"]
    seconds = time.monotonic() - started
    return {
        "lecture": lecture,
        "solution": solution.name,
        "generated": len(every),
        "sampled": len(sample),
        "limit": limit,
        "baseline": baseline.status if baseline.status == "passed" else baseline.how,
        "caught": caught,
        "scored": len(scored),
        "score": round(100.0 * caught / max(len(scored), 1), 1),
        "equivalent": sorted(row["id"] for row in rows if "equivalent" in row),
        "equivalent_but_caught": [r["id"] for r in rows if "equivalent" in r and r["how"]],
        "stale_equivalents": sorted(set(equivalents) - {m.id for m in every}),
        "seconds": round(seconds, 1),
        "seconds_per_mutant": round(seconds / max(len(rows), 1), 2),
        "survivors": _grouped(survivors),
        "equivalent_candidates": yaml.safe_dump(
            [
                {key: r[key] for key in ("id", "function", "change")} | {"reason": "TODO"}
                for r in candidates
            ],
            sort_keys=False,
            allow_unicode=True,
            width=1000,
        ),
        "mutants": rows,
    }


_MISSING = {"status": "crashed", "tests": [], "detail": "no result from the worker"}


def _row(mutant: auto_mutants.AutoMutant, tests: list[str]) -> dict:
    return {
        "id": mutant.id,
        "function": mutant.function,
        "operator": mutant.operator,
        "line": mutant.line,
        "change": f"{mutant.original} -> {mutant.mutated}",
        "tests": tests,
        "source": mutant.source,
    }


def _grade(solution, source, test_files, rows, jobs, timeout_s, baseline=None) -> dict:
    """Run ``rows`` (``id``, ``source``, ``tests``) on the catalogue's warm worker; the unmutated
    solution runs first (id ""), the tests of every row unless ``baseline`` names others."""
    entries = [{key: row[key] for key in ("id", "source", "tests")} for row in rows]
    named = {name for row in rows for name in row["tests"]}
    order = [name for path in test_files for name in mutants.autograder_tests(path)]
    first = {"id": "", "source": source, "tests": [n for n in order if n in named]}
    first["tests"] = first["tests"] if baseline is None else baseline
    job = {"test_files": [str(p) for p in test_files], "name": solution.name, "source": source}
    job |= {"mutants": [first, *entries], "jobs": jobs, "timeout_s": timeout_s}
    return mutants._run_worker(job, timeout_s * (len(entries) + 1) + 300)


def _trace_survivors(solution, source, test_files, survivors, jobs, timeout_s) -> None:
    """Mark each survivor's ``outputs``: same, different or not observed (see the docstring)."""
    if not survivors:
        return
    with tempfile.TemporaryDirectory(prefix="camp-trace-") as scratch:
        folder = Path(scratch)
        functions = sorted({_traced(row["function"]) for row in survivors})
        entries = []
        for index, function in enumerate(functions):
            tests = [r["tests"] for r in survivors if _traced(r["function"]) == function][0]
            footer = _footer(function, folder / f"baseline-{index}.txt")
            entries.append({"id": f"baseline-{index}", "source": source + footer, "tests": tests})
        for row in survivors:
            footer = _footer(_traced(row["function"]), folder / f"{row['id']}.txt")
            entries.append(
                {"id": row["id"], "source": row["source"] + footer, "tests": row["tests"]}
            )
        _grade(solution, source, test_files, entries, jobs, timeout_s, baseline=[])
        for row in survivors:
            index = functions.index(_traced(row["function"]))
            mine = _read(folder / f"{row['id']}.txt")
            theirs = _read(folder / f"baseline-{index}.txt")
            concrete = [line for line in mine + theirs if not line.startswith("symbolic |")]
            row["outputs"] = (
                "not observed" if not concrete else "same" if mine == theirs else "different"
            )


def _traced(function: str) -> str:
    """What ``trace`` wraps for a mutant of ``function``: the function or method around it."""
    return ".".join(function.split(".")[:2])


def _footer(function: str, path: Path) -> str:
    return (
        "\n\nfrom course_lib.grading.auto_trace import trace as _camp_trace  # camp mutants\n"
        f"_camp_trace(globals(), {function!r}, {str(path)!r})\n"
    )


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def _grouped(survivors: list[dict]) -> dict:
    """Survivors by function, then operator: id, change, outputs and the tests that ran."""
    grouped: dict[str, dict[str, list]] = {}
    for row in survivors:
        item = {key: row.get(key) for key in ("id", "line", "change", "outputs", "tests")}
        grouped.setdefault(row["function"], {}).setdefault(row["operator"], []).append(item)
    return grouped


def run(lecture: str | None, console, jobs: int, timeout_s: float, limit: int, min_score: float):
    """Grade the automatic mutants of ``lecture`` (or of every lecture), write each report to
    ``build/mutants/auto-NN.json`` and print it; True when every lecture reaches ``min_score``."""
    root = project_root()
    numbers = [lecture] if lecture else [p.name[:2] for p in lecture_files(root / "solutions")]
    folder = root / "build" / "mutants"
    ok = True
    for number in numbers:
        report = run_lecture(root, number, jobs, timeout_s, limit)
        for row in report["mutants"]:
            row.pop("source", None)
        folder.mkdir(parents=True, exist_ok=True)
        path = (folder / f"auto-{number}.json").relative_to(root)
        text = json.dumps(report, indent=1, ensure_ascii=False) + "\n"
        (root / path).write_text(text, encoding="utf-8")
        ok = print_report(console, report, path, min_score) and ok
    return ok


def print_report(console, report: dict, path: Path, min_score: float) -> bool:
    """One line per survivor and per problem, then the score; True when the lecture passes."""
    lines = []
    if report["baseline"] != "passed":
        lines.append(f"[bold red]baseline[/]  the unmutated solution fails: {report['baseline']}")
    for function, operators in report["survivors"].items():
        for operator, items in operators.items():
            for item in items:
                text = f"{function}, {operator}: {item['change']} ({item['id']}, outputs "
                lines.append(f"[bold red]survived[/]  {escape(text)}{item['outputs']})")
    if candidates := report["equivalent_candidates"].count("- id: "):
        where = f"tests/mutants/equivalent/{report['solution'][:-3]}.yaml"
        lines.append(
            f"{candidates} survivors return what the solution returns on the tests' inputs: list "
            f"those no input tells apart in {where} (entries in the report's equivalent_candidates)"
        )
    for name in report["equivalent_but_caught"]:
        lines.append(f"[bold red]listed as equivalent but caught[/]  {name}: remove it")
    for name in report["stale_equivalents"]:
        lines.append(f"[yellow]stale equivalent[/]  {name}: no longer generated, remove it")
    ok = report["baseline"] == "passed" and report["score"] >= min_score
    ok = ok and not report["equivalent_but_caught"]
    sample = f"{report['sampled']} of {report['generated']} generated"
    lines.append(
        f"[bold {'green' if ok else 'red'}]Lecture {report['lecture']}: {report['caught']}/"
        f"{report['scored']} automatic mutants caught, score {report['score']:.1f} % "
        f"({sample}, {len(report['equivalent'])} equivalent), {report['seconds']:.0f} s, "
        f"{report['seconds_per_mutant']:.2f} s per mutant; report {escape(str(path))}[/]"
    )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    return ok
