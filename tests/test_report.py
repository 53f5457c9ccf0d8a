"""``camp report``: the class report page and wide.csv from a small hand-written gradebook."""

import base64
import csv
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest
from typer.testing import CliRunner

from course_lib.errors import CourseError
from course_lib.grading.report import read_gradebook, split_flags, write_report

SCRIPT = "<script>alert(1)</script>"
MARKUP = "[/bold]"
COLUMNS = ["student", "lecture", "points", "max_points", "status", "detail"]
EXTRA = ["file", "flags", "isolation", "reviewer"]  # "reviewer": a column the report does not know.
ROWS = [
    ["alice", "01", "10", "10", "full-marks", "", "01_nn_recap.py", "", "namespaces", "x"],
    ["alice", "02", "6", "12", "graded", "", "02_cnn.ipynb", "", "namespaces", ""],
    ["bob", "01", "7", "10", "graded", "", "01_nn_recap.py", "", "namespaces", ""],
    [
        "bob",
        "02",
        "12",
        "12",
        "full-marks",
        "",
        "02_cnn.py",
        "imports socket; os.kill",
        "rlimits",
        "",
    ],
    [SCRIPT, "01", "4", "10", "graded", "", "01.py", "<img src=x onerror=alert(2)>", "", ""],
    [SCRIPT, "02", "0", "12", "timeout", "Stopped after <b>300</b> s.", "02.py", "", "", ""],
    [MARKUP, "01", "0", "10", "crashed", "[red]Segfault[/red]", "01.py", "", "", ""],
    [MARKUP, "02", "0", "12", "import-error", "SyntaxError: line 3", "02.py", "", "", ""],
    ["ghost", "01", "0", "10", "missing", "No file for lecture 01.", "", "", "", ""],
    ["ghost", "02", "0", "12", "missing", "No file for lecture 02.", "", "", "", ""],
]


def _test(name, passed, points, hint=""):
    return {
        "name": name,
        "points": points if passed else 0.0,
        "max_points": points,
        "passed": passed,
        "hint": "" if passed else hint,
        "message": "",
        "hidden": name.startswith("test_hidden"),
    }


SOFTMAX_HINT = "Subtract the max before <b>np.exp</b> & [bold]"
RESULTS = {
    ("alice", "01"): [_test("test_softmax", True, 5), _test("test_dense", True, 5)],
    ("alice", "02"): [
        _test("test_conv", False, 6, "Flip the kernel?"),
        _test("test_hidden_pool", True, 6),
    ],
    ("bob", "01"): [_test("test_softmax", False, 3, SOFTMAX_HINT), _test("test_dense", True, 7)],
    ("bob", "02"): [_test("test_conv", True, 6), _test("test_hidden_pool", True, 6)],
}


def write_gradebook(folder, columns=COLUMNS + EXTRA, rows=ROWS):
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "grades.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(row[: len(columns)] for row in rows)
    for (student, lecture), tests in RESULTS.items():
        path = folder / "results" / student / f"{lecture}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"lecture": lecture, "status": "graded", "tests": tests}
        if student == "bob":  # camp autograde signs its records: {"record": ..., "hmac": ...}.
            record = {"record": record, "hmac": "0" * 64}
        path.write_text(json.dumps(record))
    (folder / "results" / "bob" / "03.json").write_text("{not json")  # Not in the gradebook.
    return folder / "grades.csv"


class Page(HTMLParser):
    """Collect the text of each section (by id), every tag and every attribute."""

    def __init__(self):
        super().__init__()
        self.section, self.text, self.tags, self.attrs = None, {}, [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "section":
            self.section = dict(attrs)["id"]
            self.text[self.section] = ""

    def handle_endtag(self, tag):
        if tag == "section":
            self.section = None

    def handle_data(self, data):
        if self.section:
            self.text[self.section] += data + "\n"


@pytest.fixture
def report(tmp_path):
    paths = write_report(write_gradebook(tmp_path / "grades"))
    page = Page()
    page.feed(paths["page"].read_text())
    return paths, page


def test_page_has_every_section(report):
    paths, page = report
    assert paths["page"] == paths["page"].parents[1] / "report" / "index.html"
    assert list(page.text) == [
        "summary",
        "distribution",
        "statuses",
        "failed-tests",
        "flags",
        "nothing-submitted",
        "grades",
    ]
    assert "Grade distribution per lecture" in page.text["distribution"]
    assert "students\n5" in page.text["summary"] and "points available\n22" in page.text["summary"]
    for name in ("distribution.png", "statuses.png", "failed_tests.png"):
        assert (paths["page"].parent / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_is_self_contained_and_escaped(report):
    paths, page = report
    # Hostile names, details, flags and hints are text on the page, never tags.
    assert page.tags.count("script") == 0 and page.tags.count("b") == 0
    assert page.tags.count("img") == 3
    assert SCRIPT in page.text["grades"] and MARKUP in page.text["grades"]
    assert "<img src=x onerror=alert(2)>" in page.text["flags"]
    assert "Stopped after <b>300</b> s." in page.text["statuses"]
    assert "[red]Segfault[/red]" in page.text["statuses"]
    assert SOFTMAX_HINT in page.text["failed-tests"]
    for name, value in page.attrs:
        if name in ("src", "href"):
            assert value.startswith("data:image/png;base64,")
            assert base64.b64decode(value.split(",", 1)[1])[:4] == b"\x89PNG"
    assert "http" not in paths["page"].read_text().replace("http-equiv", "")


def test_statuses_failed_tests_flags_and_missing(report):
    _, page = report
    statuses = page.text["statuses"]
    for status in ("full-marks", "graded", "import-error", "missing", "timeout", "crashed"):
        assert status in statuses
    assert "exited" not in statuses  # Only the statuses that occur.
    tests = page.text["failed-tests"].split("\n")
    # test_conv failed once in two runs, test_softmax once in two; ties keep lecture order.
    assert tests.index("test_softmax") < tests.index("test_conv")
    assert "1 / 2" in tests and "Flip the kernel?" in tests
    assert "test_dense" not in tests and "test_hidden_pool" not in tests
    flags = page.text["flags"]
    assert "imports socket; os.kill" in flags and "rlimits" not in flags
    nothing = page.text["nothing-submitted"].split("\n")
    assert "ghost" in nothing and "alice" not in nothing and MARKUP not in nothing


def test_wide_csv(report):
    paths, _ = report
    with paths["wide"].open(newline="") as f:
        rows = list(csv.reader(f))
    header = ["Student", "SIS Login ID", "Section", "Lecture 01", "Lecture 02", "Final Points"]
    assert rows[0] == header
    assert rows[1:] == [
        [SCRIPT, SCRIPT, "", "4", "0", "4"],
        [MARKUP, MARKUP, "", "0", "0", "0"],
        ["alice", "alice", "", "10", "6", "16"],
        ["bob", "bob", "", "7", "12", "19"],
        ["ghost", "ghost", "", "0", "0", "0"],
    ]


def test_original_columns_only_and_ungraded_lecture(tmp_path):
    rows = ROWS[:-1]  # ghost has no row for lecture 02: an empty cell, not 0.
    grades = write_gradebook(tmp_path / "g", COLUMNS, rows)
    shutil.rmtree(tmp_path / "g" / "results")
    paths = write_report(grades, out=tmp_path / "out")
    assert paths["wide"] == tmp_path / "out" / "report" / "wide.csv"
    assert paths["wide"].read_text().splitlines()[-1] == "ghost,ghost,,0,,0"
    page = Page()
    page.feed(paths["page"].read_text())
    assert "no flags column" in page.text["flags"]
    assert "No per-student results" in page.text["failed-tests"]
    assert not (paths["page"].parent / "failed_tests.png").exists()


def test_unreadable_results_are_counted(tmp_path):
    grades = write_gradebook(tmp_path / "g")
    (tmp_path / "g" / "results" / "alice" / "02.json").write_text("[1, 2]")
    (tmp_path / "g" / "results" / "bob" / "01.json").write_text("{not json")
    (tmp_path / "g" / "results" / "bob" / "02.json").write_text('{"tests": {"a": 1}}')
    page = Page()
    page.feed(write_report(grades)["page"].read_text())
    assert "2 result files could not be read." in page.text["failed-tests"]
    assert "No test failed." in page.text["failed-tests"]


def test_bad_gradebooks(tmp_path):
    with pytest.raises(CourseError, match="no such gradebook"):
        read_gradebook(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("student,lecture,points\nalice,01,3\n")
    with pytest.raises(CourseError, match="missing columns max_points, status"):
        read_gradebook(bad)
    bad.write_text("student,lecture,points,max_points,status\nalice,01,three,10,graded\n")
    with pytest.raises(CourseError, match="line 2: points must be numbers"):
        read_gradebook(bad)
    bad.write_text("student,lecture,points,max_points,status\n")
    with pytest.raises(CourseError, match="has no rows"):
        read_gradebook(bad)
    assert split_flags(" imports socket; os.kill, twice;") == ["imports socket", "os.kill, twice"]


def test_cli(tmp_path):
    from course_lib.cli import app

    runner = CliRunner()
    grades = write_gradebook(tmp_path / "grades")
    result = runner.invoke(app, ["report", str(grades), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "index.html" in result.output and (tmp_path / "o" / "report" / "wide.csv").is_file()
    result = runner.invoke(app, ["report", str(tmp_path / "none.csv")])
    assert result.exit_code == 1 and "no such gradebook" in result.output
    assert len(result.output.strip().splitlines()) == 1
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["report", str(grades), "--out", str(tmp_path / "file")])
    assert result.exit_code == 1 and "cannot create the report folder" in result.output


@pytest.mark.slow
def test_screenshot_in_a_real_browser(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium) to render the page")
    paths, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}"]
        + ["--window-size=1200,1600", paths["page"].as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
