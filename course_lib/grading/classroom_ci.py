"""GitHub Classroom autograding for the student edition (introduced with Lecture 01's grader).

``camp release`` writes ``.github/workflows/classroom.yml`` into the edition: on every push, one
step per lecture runs ``camp check NN`` through GitHub Classroom's command grader
(``classroom-resources/autograding-command-grader``: a command and its ``max-score``, awarded when
the command exits 0), and the grading reporter (``autograding-grading-reporter``) sends the
steps' results to GitHub Classroom. ``camp check`` exits 0 only with full marks, so a lecture
earns all of its points (those of its public tests) or none: the command grader knows no partial
credit. Instructors who want partial credit per test grade the class with ``camp autograde``.

Each lecture's step grades the lecture's newest file in ``exercises/`` (``.py`` or ``.ipynb``),
the rule of ``camp check``; a step before them dates each exercise by its last commit, since a
fresh checkout gives every file the same age.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from course_lib.grading.judge import available_lectures, declared_points, test_files

GRADER = "classroom-resources/autograding-command-grader@v1"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
WORKFLOW = Path(".github") / "workflows" / "classroom.yml"
HEADER = (
    "# GitHub Classroom autograding, written by `camp release`: each lecture's step runs\n"
    "# `camp check NN` and earns the lecture's points when it exits 0 (full marks).\n"
)
DATE_BY_COMMIT = """\
git ls-files -z exercises | while IFS= read -r -d '' file; do
  touch -d "$(git log -1 --format=%cI -- "$file")" "$file"
done
"""


def lecture_points(lecture: str, root: Path | None = None) -> int:
    """The points of ``lecture``'s public tests, as the integer the command grader reads."""
    points = sum(sum(declared_points(path).values()) for path in test_files(lecture, root))
    if points != int(points):
        raise ValueError(
            f"Lecture {lecture} has {points:g} points; GitHub Classroom's max-score is an "
            "integer, so give its tests whole points."
        )
    return int(points)


def step_id(lecture: str) -> str:
    """The step id of a lecture: letters and digits only, as the reporter's ``runners`` needs."""
    if not re.fullmatch(r"\d\d", lecture):
        raise ValueError(f"Expected a two-digit lecture number; received {lecture!r}.")
    return f"lecture{lecture}"


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks, which keeps the shell script readable."""


_Dumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def workflow(
    root: Path | None = None,
    lectures: list[str] | None = None,
    python: str = "3.11",
    timeout_minutes: int = 15,
) -> str:
    """Return the GitHub Actions workflow (YAML) that grades ``lectures`` (default: all)."""
    lectures = lectures or available_lectures(root)
    steps = [
        {"name": "Check out the repository", "uses": "actions/checkout@v4"}
        | {"with": {"fetch-depth": 0}},
        {"name": "Date the exercises by their last commit", "run": DATE_BY_COMMIT},
        {"name": "Set up Python", "uses": "actions/setup-python@v5"}
        | {"with": {"python-version": python}},
        {
            "name": "Install the course",
            "run": "python -m pip install .\n"
            "python -m pip install --no-deps -r requirements-nodeps.txt\n",
        },
    ]
    for lecture in lectures:
        steps.append(
            {
                "name": f"Lecture {lecture}",
                "id": step_id(lecture),
                "uses": GRADER,
                "with": {
                    "test-name": f"Lecture {lecture}",
                    "command": f"camp check {lecture} --submission exercises",
                    "timeout": timeout_minutes,
                    "max-score": lecture_points(lecture, root),
                },
            }
        )
    ids = [step_id(lecture) for lecture in lectures]
    steps.append(
        {
            "name": "Autograding Reporter",
            "uses": REPORTER,
            "env": {f"{i.upper()}_RESULTS": f"${{{{steps.{i}.outputs.result}}}}" for i in ids},
            "with": {"runners": ",".join(ids)},
        }
    )
    document = {
        "name": "Autograding Tests",
        "on": ["push", "workflow_dispatch", "repository_dispatch"],
        "permissions": {"checks": "write", "actions": "read", "contents": "read"},
        "jobs": {
            "run-autograding-tests": {
                "runs-on": "ubuntu-latest",
                "if": "github.actor != 'github-classroom[bot]'",
                "steps": steps,
            }
        },
    }
    body = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100)
    return HEADER + body


def write_workflow(edition: Path, root: Path | None = None) -> Path:
    """Write the workflow into the student edition ``edition``; return its path."""
    path = edition / WORKFLOW
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(workflow(root), encoding="utf-8")
    return path
