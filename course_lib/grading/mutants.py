"""Mutation testing of the autograders: do the tests catch the mistakes students really make?

Introduced with Lecture 01's grader. A lecture's *mutant catalogue* ``tests/mutants/NN_topic.yaml``
lists student mistakes, each an edit of ``solutions/NN_topic.py`` (see tests/mutants/README.md)::

    - id: softmax-axis-0                # lowercase words joined by hyphens, unique in the file
      function: softmax                 # the graded function (or Class.method) that is edited
      misunderstanding: Normalises each column (axis 0) instead of each example's row.
      find: "exp.sum(axis=-1, keepdims=True)"   # exact text inside ### BEGIN/END SOLUTION,
      replace: "exp.sum(axis=0, keepdims=True)" # found exactly once in the whole file
      tests: [test_softmax_over_last_axis]      # the tests expected to catch it

``camp mutants [NN]`` runs only the named tests on each mutated copy; they may be public tests
or the instructor's hidden tests (``tests/hidden/test_NN_*.py``), which grade too. A mutant is
*caught* when one of them fails, raises, crashes or times out, and *survives* when all pass; it is
*stale* when its ``find`` text no longer occurs exactly once, inside a graded region of its
function. Exit 1 unless every mutant is caught and the unmutated solution passes every named test.

The mutants are our own, so they are graded fast and unsandboxed, as nbgrader does: the tests run
in-process on the module as a namespace (``course_lib.authoring.notebooks``), in one warm process
per lecture that forks a fresh child per mutant (``course_lib.grading.mutant_worker``). Arguments
are not copied as on the runner, so tests observe student code through probes, never by aliasing."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from rich.markup import escape

from course_lib.errors import CourseError
from course_lib.paths import project_root
from course_lib.regions import BEGIN, END


class Mutant(BaseModel):
    """One student mistake, as written in the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    function: str = Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
    misunderstanding: str = Field(min_length=10)
    find: str = Field(min_length=1)
    replace: str
    tests: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _changes_the_code(self) -> Mutant:
        if self.find == self.replace:
            raise ValueError("replace equals find: the mutant changes nothing")
        return self


@dataclass
class Outcome:
    """What happened to one mutant, or (``mutant`` None) to the unmutated solution."""

    mutant: Mutant | None
    status: str  # caught, survived, stale; for the unmutated solution passed or failed
    how: str = ""  # "failed|error TEST, targeted hint|generic message", "timeout: ...", ...
    tests: list[dict] = field(default_factory=list)  # The worker's rows, one per test run.
    detail: str = ""  # The message of the test that fired, or why the mutant is stale.


def catalogue_paths(root: Path, lecture: str | None = None) -> list[Path]:
    """The catalogue of ``lecture``, or of every lecture that has one."""
    folder = root / "tests" / "mutants"
    paths = sorted(folder.glob(f"{lecture or '[0-9][0-9]'}_*.yaml"))
    if lecture and not paths:
        raise CourseError(f"Lecture {lecture} has no mutant catalogue {folder}/{lecture}_*.yaml.")
    return paths


def load_catalogue(path: Path, test_names: set[str]) -> list[Mutant]:
    """Read and validate a catalogue; one CourseError lists every problem, one line each."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise CourseError(f"{path}: YAML syntax error{where}: {problem or error}") from None
    if not isinstance(raw, list) or not raw:
        raise CourseError(
            f"{path}: expected a non-empty list of mutants; found {type(raw).__name__}."
        )
    problems, mutants, seen = [], [], set()
    for index, item in enumerate(raw):
        name = item.get("id") if isinstance(item, dict) else None
        where = f"{path}: mutant {name or f'#{index + 1}'!r}"
        try:
            mutant = Mutant.model_validate(item)
        except ValidationError as error:
            for problem in error.errors():
                loc = ".".join(str(part) for part in problem["loc"])
                problems.append(f"{where}{f', field {loc!r}' if loc else ''}: {problem['msg']}")
            continue
        if mutant.id in seen:
            problems.append(f"{where}, field 'id': used by an earlier mutant too")
        unknown = [test for test in mutant.tests if test not in test_names]
        if unknown:
            problems.append(f"{where}, field 'tests': no such test {', '.join(unknown)}")
        seen.add(mutant.id)
        mutants.append(mutant)
    if len(problems) == 1:
        raise CourseError(problems[0])
    if problems:
        raise CourseError(f"{len(problems)} problems:\n" + "\n".join(f"- {p}" for p in problems))
    return mutants


def graded_regions(source: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the code between BEGIN and END SOLUTION lines."""
    spans, start, offset = [], None, 0
    for line in source.splitlines(keepends=True):
        if line.strip() == BEGIN:
            start = offset + len(line)
        elif line.strip() == END and start is not None:
            spans.append((start, offset))
            start = None
        offset += len(line)
    return spans


def _enclosing_names(tree: ast.Module, line: int, end_line: int) -> set[str]:
    """Qualified and plain names of the functions and classes around lines ``line..end_line``."""
    names: set[str] = set()

    def visit(nodes, prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.lineno <= line and end_line <= node.end_lineno:
                    names.update({prefix + node.name, node.name})
                    visit(node.body, f"{prefix}{node.name}.")

    visit(tree.body, "")
    return names


def apply(source: str, mutant: Mutant, tree: ast.Module | None = None) -> tuple[str | None, str]:
    """Return ``(mutated source, "")``, or ``(None, why the mutant is stale)``."""
    count = source.count(mutant.find)
    if count != 1:
        return None, f"find text occurs {count} times in the solution (expected exactly once)"
    start = source.index(mutant.find)
    end = start + len(mutant.find)
    if not any(a <= start and end <= b for a, b in graded_regions(source)):
        return None, "find text is outside every ### BEGIN/END SOLUTION region"
    line = source.count("\n", 0, start) + 1
    names = _enclosing_names(tree or ast.parse(source), line, source.count("\n", 0, end) + 1)
    if mutant.function not in names:
        inside = ", ".join(sorted(n for n in names if "." not in n)) or "no function"
        return None, f"find text is in {inside}, not in {mutant.function}"
    return source[:start] + mutant.replace + source[end:], ""


def autograder_tests(test_file: Path) -> list[str]:
    """The test functions of an autograder file, in file order."""
    tree = ast.parse(test_file.read_text(encoding="utf-8"), filename=str(test_file))
    return [n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name[:5] == "test_"]


def lecture_test_files(root: Path, lecture: str) -> list[Path]:
    """The public test file of ``lecture`` and the instructor's hidden ones (``tests/hidden``).

    A mistake caught only by a hidden test is still caught when the instructor grades, so the
    catalogue may name hidden tests too. Raises CourseError when a hidden test reuses the name
    of a public one (the grade report keys tests by name).
    """
    from course_lib.grading.expected import hidden_dir
    from course_lib.grading.judge import hidden_test_files

    public = sorted((root / "tests" / "autograder").glob(f"test_{lecture}_*.py"))[:1]
    files = public + hidden_test_files(hidden_dir(root), lecture)
    seen: dict[str, Path] = {}
    for path in files:
        for name in autograder_tests(path):
            if name in seen:
                raise CourseError(f"{path}: test {name} is also defined in {seen[name]}.")
            seen[name] = path
    return files


def catalogue_tests(root: Path, lecture: str) -> list[str]:
    """The names a catalogue may list: public tests, then hidden tests, in file order."""
    return [name for path in lecture_test_files(root, lecture) for name in autograder_tests(path)]


def run_lecture(
    root: Path, catalogue: Path, jobs: int, timeout_s: float
) -> tuple[list[Outcome], float]:
    """Grade every mutant of one catalogue; return the outcomes (baseline first) and seconds."""
    started = time.monotonic()
    lecture = catalogue.name[:2]
    solution = root / "solutions" / f"{catalogue.stem}.py"
    test_files = lecture_test_files(root, lecture)
    if not solution.is_file() or not test_files:
        raise CourseError(
            f"{catalogue}: expected {solution} and tests/autograder/test_{lecture}_*.py."
        )
    order = [name for path in test_files for name in autograder_tests(path)]
    mutants = load_catalogue(catalogue, set(order))
    source = solution.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(solution))
    outcomes, jobs_out = [], []
    for mutant in mutants:
        mutated, why = apply(source, mutant, tree)
        if mutated is None:
            outcomes.append(Outcome(mutant, "stale", detail=why))
        else:
            tests = [name for name in order if name in mutant.tests]
            jobs_out.append({"id": mutant.id, "source": mutated, "tests": tests})
    named = {name for job in jobs_out for name in job["tests"]}
    baseline = {"id": "", "source": source, "tests": [n for n in order if n in named]}
    job = {"test_files": [str(p) for p in test_files], "name": solution.name, "source": source}
    job |= {"mutants": [baseline, *jobs_out], "jobs": jobs, "timeout_s": timeout_s}
    results = _run_worker(job, timeout_s * (len(jobs_out) + 1) + 300)
    by_id = {mutant.id: mutant for mutant in mutants}
    missing = {"status": "crashed", "tests": [], "detail": "no result from the worker"}
    outcomes.insert(0, _outcome(None, results.get("", missing)))
    outcomes += [_outcome(by_id[item["id"]], results.get(item["id"], missing)) for item in jobs_out]
    return outcomes, time.monotonic() - started


def _run_worker(job: dict, limit_s: float) -> dict[str, dict]:
    """Run the warm worker of one lecture; return its results by mutant id."""
    from course_lib.grading.judge import grading_env

    with tempfile.TemporaryDirectory(prefix="camp-mutants-") as scratch:
        log = Path(scratch) / "worker.log"
        command = [sys.executable, "-m", "course_lib.grading.mutant_worker", scratch, str(log)]
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL}
        process = subprocess.Popen(command, env=grading_env(), cwd=scratch, text=True, **pipes)
        try:
            output, _ = process.communicate(json.dumps(job), timeout=limit_s)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        finally:
            process.kill()  # Gone already, unless camp mutants itself was interrupted.
        results = {}
        for line in output.splitlines():
            try:
                item = json.loads(line)
            except ValueError:  # The last line of a worker that was killed.
                continue
            results[item["id"]] = item
        if "" not in results:
            lines = log.read_text("utf-8", "replace").strip().splitlines() if log.exists() else []
            last = lines[-1][-300:] if lines else "no output"  # A traceback's last line names it.
            raise CourseError(f"The mutant worker of {job['name']} stopped: {last}")
    return results


def _outcome(mutant: Mutant | None, result: dict) -> Outcome:
    """Judge one worker result: which test fired (a targeted one first), or how the child ended."""
    tests, status, detail = result["tests"], result["status"], result.get("detail", "")
    bad = [t for t in tests if t["outcome"] in ("failed", "error")]
    bad.sort(key=lambda test: not test["targeted"])
    if status in ("timeout", "crashed"):
        how = f"{status}: {detail}"
    elif bad:
        how = f"{bad[0]['outcome']} {bad[0]['name']}, "
        how += "targeted hint" if bad[0]["targeted"] else "generic message"
        detail = bad[0]["message"]
    else:
        how = ""
    verdicts = ("failed", "passed") if mutant is None else ("caught", "survived")
    return Outcome(mutant, verdicts[0] if how else verdicts[1], how, tests, detail)


def print_report(console, lecture: str, outcomes: list[Outcome], seconds: float) -> bool:
    """Print one lecture's outcomes; True when the baseline passes and every mutant is caught."""
    baseline, mutants = outcomes[0], outcomes[1:]
    lines = []
    if baseline.status != "passed":
        failed = [t for t in baseline.tests if t["outcome"] != "passed"]
        lines.append(f"[bold red]baseline[/]  the unmutated solution fails: {escape(baseline.how)}")
        lines += [f"  {escape(t['name'])}: {escape(t['message'])}" for t in failed]
    for outcome in mutants:
        mutant = outcome.mutant
        if outcome.status == "caught":
            lines.append(f"caught    {mutant.id} ({escape(outcome.how)}): {escape(outcome.detail)}")
        elif outcome.status == "survived":
            text = f"{mutant.id} in {mutant.function}: {escape(mutant.misunderstanding)}"
            lines.append(f"[bold red]survived[/]  {text}")
        else:
            text = f"{mutant.id} in {mutant.function}: {escape(outcome.detail)}"
            lines.append(f"[bold red]stale[/]     {text}")
    caught = sum(o.status == "caught" for o in mutants)
    stale = sum(o.status == "stale" for o in mutants)
    ran = len(mutants) - stale
    ok = caught == len(mutants) and baseline.status == "passed"
    lines.append(
        f"[bold {'green' if ok else 'red'}]Lecture {lecture}: {caught}/{ran} mutants caught, "
        f"mutation score {100.0 * caught / max(ran, 1):.0f} %, {stale} stale, {seconds:.1f} s[/]"
    )
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    return ok


def run(lecture: str | None, console, jobs: int, timeout_s: float) -> bool:
    """Grade the catalogue of ``lecture`` (or every catalogue) and print the report; True if ok."""
    root = project_root()
    paths = catalogue_paths(root, lecture)
    if not paths:
        raise CourseError(f"No mutant catalogues NN_topic.yaml in {root / 'tests' / 'mutants'}.")
    ok, caught, ran = True, 0, 0
    for path in paths:
        outcomes, seconds = run_lecture(root, path, jobs, timeout_s)
        ok = print_report(console, path.name[:2], outcomes, seconds) and ok
        caught += sum(o.status == "caught" for o in outcomes[1:])
        ran += sum(o.status in ("caught", "survived") for o in outcomes[1:])
    if len(paths) > 1:
        score = f"{100.0 * caught / max(ran, 1):.0f} %"
        console.print(f"[bold]All lectures: {caught}/{ran} caught, mutation score {score}[/]")
    return ok
