"""Similarity of graded regions: fixed classes with known answers, and the HTML report.

Copies rank first and stay copies under renamed variables; the untouched exercise (the
distribution code) never makes two students alike; a passage shared by more than ``common``
submissions is ignored; the ranking does not depend on Python's string hashing; the report
escapes names and, in headless Chromium, shows both sides with highlights.
"""

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.errors import CourseError
from course_lib.paths import project_root
from course_lib.term.similarity import (
    Work,
    collect,
    exercise_file,
    graded_names,
    graded_text,
    rank_pairs,
)
from course_lib.term.similarity_report import pairs_csv, render, write_report

ROOT = project_root()
SOLUTION = (ROOT / "solutions" / "01_nn_recap.py").read_text(encoding="utf-8")
EXERCISE = exercise_file("01").read_text(encoding="utf-8")
STARTER = '''def area(w, h):
    """Area of a w x h rectangle, in square units."""
    # YOUR CODE HERE
    raise NotImplementedError("area: fill in the region marked YOUR CODE HERE")


def perimeter(w, h):
    """Perimeter of a w x h rectangle."""
    # YOUR CODE HERE
    raise NotImplementedError("perimeter: fill in the region marked YOUR CODE HERE")
'''


def solved(area: str, perimeter: str) -> str:
    text = STARTER.replace(
        '    # YOUR CODE HERE\n    raise NotImplementedError("area: fill in the region marked '
        'YOUR CODE HERE")',
        area,
    )
    return text.replace(
        '    # YOUR CODE HERE\n    raise NotImplementedError("perimeter: fill in the region '
        'marked YOUR CODE HERE")',
        perimeter,
    )


def work(name: str, text: str) -> Work:
    return Work(name, Path(f"{name}/01_shapes.py"), text, "graded functions")


AREA_A = "    if w < 0 or h < 0:\n        raise ValueError('negative side')\n    return w * h"
AREA_B = "    result = 0\n    for _ in range(int(h)):\n        result += w\n    return result"
PERIM = "    total = 2 * (w + h)\n    print('perimeter', total)\n    return total"


def make_class(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "01_nn_recap.py").write_text(text, encoding="utf-8")
    return folder


def test_graded_names_are_the_functions_the_stubs_name():
    names = re.findall(r'NotImplementedError\(\s*"([\w.]+): fill in', EXERCISE)
    assert graded_names(EXERCISE) == list(dict.fromkeys(names))
    text, scope = graded_text(SOLUTION, graded_names(EXERCISE))
    assert scope == "graded functions" and "def softmax(" in text and "# %%" not in text
    assert graded_text("def broken(:\n", ["x"])[1] == "whole file (it does not parse)"


def test_copies_rank_first_and_renaming_does_not_hide_them():
    body = re.sub(r"\bh\b", "height", re.sub(r"\bw\b", "width", AREA_A))
    renamed = solved(body, PERIM).replace("def area(w, h)", "def area(width, height)")
    assert "width * height" in renamed
    works = [
        work("ann", solved(AREA_A, PERIM)),
        work("bob", renamed),
        work("cy", solved(AREA_B, "    return w + w + h + h")),
        work("dee", STARTER),
    ]
    pairs = rank_pairs(works, STARTER, common=10, k=10)
    top = pairs[0]
    assert (top.a.student, top.b.student) == ("ann", "bob")
    assert top.similarity_a == pytest.approx(1.0) and top.similarity_b == pytest.approx(1.0)
    assert all("dee" not in (p.a.student, p.b.student) for p in pairs)  # Starter only: nothing.
    others = [p for p in pairs if "cy" in (p.a.student, p.b.student)]
    assert all(p.score < 0.5 for p in others)


def test_the_untouched_exercise_never_counts():
    works = [work("ann", STARTER), work("bob", STARTER), work("cy", STARTER + "\n\n")]
    assert rank_pairs(works, STARTER, common=10, k=10) == []


def test_passages_in_more_than_common_submissions_are_ignored():
    works = [work(n, solved(AREA_A, "    return 2 * w + 2 * h")) for n in ("ann", "bob", "cy")]
    assert len(rank_pairs(works, STARTER, common=10, k=10)) == 3
    assert rank_pairs(works, STARTER, common=2, k=10) == []


def test_at_least_two_submissions_are_needed():
    with pytest.raises(CourseError, match="at least two submissions"):
        rank_pairs([work("ann", STARTER)], STARTER)


def test_lecture_01_class_from_folders(tmp_path):
    half = SOLUTION.split("def mlp_forward")[0] + EXERCISE[EXERCISE.index("def mlp_forward") :]
    submissions = make_class(
        tmp_path / "subs",
        {"ann": SOLUTION, "bob": SOLUTION, "cy": EXERCISE, "dee": EXERCISE, "eve": half},
    )
    (submissions / "fay").mkdir()  # No file: listed as not compared.
    works, skipped = collect(submissions, "01")
    assert [w.student for w in works] == ["ann", "bob", "cy", "dee", "eve"]
    assert skipped[0][0] == "fay" and "No file for lecture 01" in skipped[0][1]
    pairs = rank_pairs(works, EXERCISE)
    named = [(p.a.student, p.b.student) for p in pairs]
    assert named[0] == ("ann", "bob") and pairs[0].score == pytest.approx(1.0)
    assert not any({"cy", "dee"} & {a, b} for a, b in named)  # Exercise text never counts.
    assert ("ann", "eve") in named and ("bob", "eve") in named


def test_ranking_does_not_depend_on_string_hashing(tmp_path):
    submissions = make_class(
        tmp_path / "subs",
        {
            "ann": SOLUTION,
            "bob": SOLUTION.replace("shifted", "centred"),
            "cy": SOLUTION.split("def softmax")[0] + EXERCISE[EXERCISE.index("def softmax") :],
        },
    )
    script = (
        "import sys; from pathlib import Path; "
        "from course_lib.term.similarity import collect, rank_pairs, exercise_file; "
        "from course_lib.term.similarity_report import pairs_csv; "
        "w, _ = collect(Path(sys.argv[1]), '01'); "
        "print(pairs_csv(rank_pairs(w, exercise_file('01').read_text()), 0.5))"
    )
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script, str(submissions)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.add(done.stdout)
    assert len(outputs) == 1
    rows = list(csv.DictReader(outputs.pop().splitlines()))
    assert (rows[0]["student_a"], rows[0]["student_b"]) == ("ann", "bob")


def report(tmp_path: Path) -> Path:
    hostile = "<img src=x onerror=alert(1)>"
    works = [
        work("ann", solved(AREA_A, PERIM)),
        work(hostile, solved(AREA_A, PERIM)),
        work("cy", solved(AREA_B, "    return w + w + h + h")),
    ]
    pairs = rank_pairs(works, STARTER, k=10)
    page = render(pairs, works, [("dee", "<no file>")], "01", "exercises/x.py", 0.5, 20, 10, 10)
    write_report(tmp_path / "report", page, pairs_csv(pairs, 0.5))
    return tmp_path / "report"


def test_report_escapes_names_and_highlights_both_sides(tmp_path):
    out = report(tmp_path)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;no file&gt;" in page and "<script" not in page and "http" not in page
    section = page[page.index('id="pair-1"') :]
    assert section.count("<pre><code>") >= 2 and section.count("<mark>") >= 2
    rows = list(csv.DictReader((out / "pairs.csv").read_text().splitlines()))
    assert rows[0]["flagged"] == "yes" and float(rows[0]["similarity_a"]) == 1.0


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(
    chromium() is None,
    reason="headless Chromium is not installed (apt-get install chromium); the HTML checks above "
    "still ran",
)
def test_report_renders_side_by_side_in_headless_chromium(tmp_path):
    from PIL import Image

    out = report(tmp_path)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            (out / "index.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    image = Image.open(shot).convert("RGB")
    width, height = image.size
    pixels = image.load()
    marked = [
        x
        for x in range(0, width, 2)
        for y in range(0, height, 4)
        if pixels[x, y] == (0xFF, 0xCF, 0x66)  # The report's <mark> colour.
    ]
    assert any(x < width / 2 for x in marked) and any(x > width / 2 for x in marked)


def test_a_large_class_lists_the_first_pairs_on_the_page_and_all_in_the_csv(monkeypatch):
    import course_lib.term.similarity_report as report_module

    monkeypatch.setattr(report_module, "TABLE_ROWS", 2)
    works = [work(name, solved(AREA_A, PERIM)) for name in ("ann", "bob", "cy", "dee")]
    pairs = rank_pairs(works, STARTER, k=10)
    page = render(pairs, works, [], "01", "exercises/x.py", 0.5, 1, 10, 10)
    assert len(pairs) == 6 and page.count("<tr") == 1 + 2
    assert "4 less similar pairs are listed in pairs.csv" in page
    assert len(pairs_csv(pairs, 0.5).splitlines()) == 1 + 6
