"""Class report of a graded class: ``camp report GRADES_CSV --out DIR`` (Lecture 01's autograder).

Reads the gradebook of ``camp autograde`` (student, lecture, points, max_points, status, detail;
optional ``file``, ``flags`` and ``isolation`` columns are shown when present, others ignored)
and the results ``results/STUDENT/NN.json`` next to it, and writes into ``DIR/report/``:

- ``index.html``, one self-contained page (its matplotlib plots embedded, and saved as PNGs next
  to it): summary, grade distribution per lecture, status counts and the runs that did not
  finish, the tests failed most often with their hints, screening flags, students who submitted
  nothing and the grades per student; every text from the gradebook or a result is escaped;
- ``wide.csv``, one row per student for a gradebook import. Columns: ``Student`` and ``SIS Login
  ID`` (both the student's folder name: name the folders by login), ``Section`` (empty), one
  ``Lecture NN`` per lecture (points; 0 for a missing submission, empty when not graded) and
  ``Final Points`` (the sum). Canvas matches rows by ``SIS Login ID``, fills one assignment per
  ``Lecture NN`` and treats ``Final Points`` as its own read-only column, not as an assignment.
  Moodle: map ``SIS Login ID`` to the username and each ``Lecture NN`` to a grade item.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import statistics
from collections import Counter
from html import escape
from pathlib import Path

from course_lib.errors import CourseError

REQUIRED = ("student", "lecture", "points", "max_points", "status")
COLOURS = {  # One per status of grader.LectureResult, in the report's order.
    **{"full-marks": "#2e7d32", "graded": "#81c784", "import-error": "#ef6c00"},
    **{"missing": "#9e9e9e", "timeout": "#c62828", "memory-limit": "#6a1b9a"},
    **{"crashed": "#ad1457", "exited": "#1565c0"},
}
TOP_TESTS = 15  # Rows of the failed-tests plot and table.
CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h2{border-bottom:2px solid #ddd;margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}td.n{text-align:
right}th,code{background:#f3f3f3}img{max-width:100%;height:auto}.muted{color:#666}"""
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class report</title><style>{css}</style>
</head><body><h1>Class report</h1><p class="muted">Gradebook: {source}</p>
<section id="summary"><h2>Summary</h2>{summary}</section>
<section id="distribution"><h2>Grade distribution per lecture</h2>
<p><img src="{distribution_png}" alt="Histograms of the share of points per lecture"></p>
{distribution}</section>
<section id="statuses"><h2>Status counts</h2>
<p><img src="{statuses_png}" alt="Students per status and lecture"></p>{statuses}
<h3>Runs that did not finish</h3>{unfinished}</section>
<section id="failed-tests"><h2>Tests failed most often</h2>{failed}</section>
<section id="flags"><h2>Screening flags for review</h2>{flags}</section>
<section id="nothing-submitted"><h2>Students who submitted nothing</h2>{nothing}</section>
<section id="grades"><h2>Grades per student</h2><p>As in <code>wide.csv</code>: points per
lecture (empty: not graded) and <code>Final Points</code>, the total.</p>{grades}</section>
</body></html>
"""


def read_gradebook(path: str | Path) -> tuple[list[dict], list[str]]:
    """Return the gradebook rows (``points`` and ``max_points`` as floats) and its columns."""
    path = Path(path)
    if not path.is_file():
        raise CourseError(f"{path}: no such gradebook; expected the CSV of `camp autograde`.")
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            if missing := [c for c in REQUIRED if c not in (reader.fieldnames or [])]:
                raise CourseError(f"{path}: missing columns {', '.join(missing)}.")
            rows, columns = list(reader), list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise CourseError(f"{path}: cannot read the gradebook ({err}).") from None
    if not rows:
        raise CourseError(f"{path}: the gradebook has no rows.")
    for line, row in enumerate(rows, start=2):
        try:
            row["points"], row["max_points"] = float(row["points"]), float(row["max_points"])
        except (TypeError, ValueError):
            raise CourseError(f"{path}, line {line}: points must be numbers.") from None
        row.update({k: row.get(k) or "" for k in ("detail", "file", "isolation")})
        row["flags"] = "; ".join(split_flags(row.get("flags") or ""))
    return rows, columns


def split_flags(text: str) -> list[str]:
    """Return the flags of a ``flags`` cell (``camp autograde`` joins them with ``; ``)."""
    return [f.strip() for f in text.split(";") if f.strip()]


def read_results(results_dir: Path, rows: list[dict]) -> tuple[list[tuple[str, dict]], int]:
    """Return (lecture, test) for each test in the rows' results and how many were unreadable."""
    tests, broken = [], 0
    for row in rows:
        student, lecture = row["student"], row["lecture"]
        if any(Path(x).name != x or x in ("", ".", "..") for x in (student, lecture)):
            continue  # Not a folder or file name: no result can belong to it.
        path = results_dir / student / f"{lecture}.json"
        try:
            data = json.loads(path.read_text("utf-8")) if path.is_file() else {}
            found = data.get("record", data).get("tests")  # Signed {"record", "hmac"} or plain.
            tests += [(lecture, t) for t in found or [] if isinstance(t, dict)]
        except (OSError, ValueError, AttributeError, TypeError):
            broken += 1
    return tests, broken


def failed_tests(tests: list[tuple[str, dict]]) -> list[dict]:
    """Return the failed tests, most failures first: lecture, name, failed, runs, hint, hidden."""
    table: dict[tuple[str, str], dict] = {}
    for lecture, test in tests:
        key = (lecture, str(test.get("name", "")))
        e = table.setdefault(key, {"lecture": lecture, "name": key[1], "failed": 0, "runs": 0})
        e["runs"] += 1
        e["hidden"] = e.get("hidden") or bool(test.get("hidden"))
        if not test.get("passed"):
            e["failed"] += 1
            e["hint"] = e.get("hint") or str(test.get("hint") or "")
    found = [e for e in table.values() if e["failed"]]
    return sorted(found, key=lambda e: (-e["failed"], -e["failed"] / e["runs"], e["lecture"]))


def wide_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Return the header and rows of wide.csv (see the module docstring)."""
    lectures = sorted({r["lecture"] for r in rows})
    by_student: dict[str, dict[str, float]] = {}
    for r in rows:
        by_student.setdefault(r["student"], {})[r["lecture"]] = r["points"]
    header = ["Student", "SIS Login ID", "Section"] + [f"Lecture {n}" for n in lectures]
    out = []
    for student, points in sorted(by_student.items()):
        cells = [f"{points[n]:g}" if n in points else "" for n in lectures]
        out.append([student, student, ""] + cells + [f"{sum(points.values()):g}"])
    return header + ["Final Points"], out


def _by_lecture(rows: list[dict]) -> dict[str, list[dict]]:
    return {n: [r for r in rows if r["lecture"] == n] for n in sorted({r["lecture"] for r in rows})}


def _statuses(rows: list[dict]) -> list[str]:
    """Return the statuses that occur, in ``COLOURS`` order, unknown ones last."""
    order = {s: k for k, s in enumerate(COLOURS)}
    return sorted({r["status"] for r in rows}, key=lambda s: (order.get(s, len(order)), s))


def _png(figure, path: Path) -> str:
    """Save ``figure`` to ``path`` and return it as a data URI for the page."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    path.write_bytes(buffer.getvalue())
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def plots(rows: list[dict], failures: list[dict], out: Path) -> dict[str, str]:
    """Draw the report's plots into ``out``; return {name: data URI}."""
    import matplotlib
    from matplotlib.figure import Figure

    by_lecture, uris = _by_lecture(rows), {}
    with matplotlib.rc_context({"text.parse_math": False, "font.size": 10}):
        cols, nrows = min(3, len(by_lecture)), -(-len(by_lecture) // 3)
        fig = Figure(figsize=(3.6 * cols, 2.6 * nrows), layout="constrained")
        for k, (lecture, part) in enumerate(by_lecture.items()):
            ax = fig.add_subplot(nrows, cols, k + 1)
            top = max(r["max_points"] for r in part) or 1.0
            shares = [100 * r["points"] / top for r in part]
            ax.hist(shares, bins=range(0, 101, 10), edgecolor="white")
            ax.set(title=f"Lecture {lecture} (max {top:g} points)", xlabel="% of points")
            ax.set(ylabel="students")
            ax.yaxis.get_major_locator().set_params(integer=True)
        uris["distribution"] = _png(fig, out / "distribution.png")

        fig = Figure(figsize=(9, 0.5 * len(by_lecture) + 1.4), layout="constrained")
        ax, left = fig.add_subplot(), [0] * len(by_lecture)
        labels = [f"Lecture {n}" for n in by_lecture]
        for status in _statuses(rows):
            width = [sum(r["status"] == status for r in part) for part in by_lecture.values()]
            ax.barh(labels, width, left=left, label=status, color=COLOURS.get(status, "#795548"))
            left = [a + b for a, b in zip(left, width, strict=True)]
        ax.invert_yaxis()
        ax.set_xlabel("students")
        fig.legend(loc="outside right upper", frameon=False)
        uris["statuses"] = _png(fig, out / "statuses.png")

        if failures:
            top = failures[:TOP_TESTS][::-1]
            fig = Figure(figsize=(9, 0.32 * len(top) + 1.0), layout="constrained")
            ax = fig.add_subplot()
            ax.barh([f"{e['lecture']} {e['name']}"[:60] for e in top], [e["failed"] for e in top])
            ax.set_xlabel("students who failed the test")
            ax.xaxis.get_major_locator().set_params(integer=True)
            uris["failed_tests"] = _png(fig, out / "failed_tests.png")
    return uris


def _table(header: list[str], rows: list[list], num=(), empty: str = "") -> str:
    """Return a table of ``rows`` (cells escaped, columns ``num`` right-aligned), or ``empty``."""
    if not rows and empty:
        return f"<p>{empty}</p>"
    td = ('<td class="n">', "<td>")
    cells = ([f"{td[k not in num]}{escape(str(c))}</td>" for k, c in enumerate(r)] for r in rows)
    body = "".join(f"<tr>{''.join(row)}</tr>" for row in cells)
    head = "".join(f"<th>{escape(str(h))}</th>" for h in header)
    head = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table>{head}<tbody>{body}</tbody></table>"


def render_html(rows, columns, failures, uris, wide, source, broken, has_results) -> str:
    """Return the report page (see the module docstring for its sections)."""
    header, wide_rows = wide
    by_lecture = _by_lecture(rows)
    tops = {n: max(r["max_points"] for r in part) for n, part in by_lecture.items()}
    totals = [float(row[-1]) for row in wide_rows]
    summary = [
        ["students", len(wide_rows)],
        ["lectures", ", ".join(by_lecture)],
        ["points available", f"{sum(tops.values()):g}"],
        ["total: mean, median", f"{statistics.fmean(totals):.1f}, {statistics.median(totals):g}"],
    ]
    if isolation := Counter(r["isolation"] for r in rows if r["isolation"]):
        summary.append(["isolation", ", ".join(f"{k}: {v}" for k, v in sorted(isolation.items()))])
    per_lecture = []
    for n, part in by_lecture.items():
        pts = [r["points"] for r in part]
        stats = [statistics.fmean(pts), statistics.median(pts), min(pts), max(pts)]
        full = sum(r["status"] == "full-marks" for r in part)
        per_lecture.append([n, f"{tops[n]:g}", *(f"{x:.1f}" for x in stats), full])
    names = _statuses(rows)
    counts = [
        [n, *(sum(r["status"] == s for r in p) for s in names)] for n, p in by_lecture.items()
    ]
    done, run_cols = ("full-marks", "graded", "missing"), ["student", "lecture", "status", "detail"]
    unfinished = [[r[k] for k in run_cols] for r in rows if r["status"] not in done]
    tests = [
        [e["lecture"], e["name"] + (" (hidden)" if e["hidden"] else "")]
        + [f"{e['failed']} / {e['runs']}", e["hint"]]
        for e in failures[:TOP_TESTS]
    ]
    tests_html = (
        _table(["lecture", "test", "failed / graded", "hint"], tests, (2,), "No test failed.")
        if has_results
        else '<p class="muted">No per-student results found next to the gradebook.</p>'
    ) + (f'<p class="muted">{broken} result files could not be read.</p>' if broken else "")
    flag_cols = ["student", "lecture", "flags", "file", "status"]
    flagged = [[r[k] for k in flag_cols] for r in rows if r["flags"]]
    flags_html = (
        _table(flag_cols, flagged, (), "None flagged.")
        if "flags" in columns
        else '<p class="muted">This gradebook has no flags column.</p>'
    )
    missing = Counter(r["student"] for r in rows if r["status"] == "missing")
    nothing = [
        [s] for s, n in sorted(Counter(r["student"] for r in rows).items()) if missing[s] == n
    ]
    stats_header = ["lecture", "max points", "mean", "median", "lowest", "highest", "full marks"]
    if "failed_tests" in uris:
        tests_html = f'<p><img src="{uris["failed_tests"]}" alt="Failed tests"></p>{tests_html}'
    return PAGE.format(
        css=CSS,
        source=escape(source),
        summary=_table([], summary),
        distribution_png=uris["distribution"],
        distribution=_table(stats_header, per_lecture, range(1, 7)),
        statuses_png=uris["statuses"],
        statuses=_table(["lecture", *names], counts, range(1, len(names) + 1)),
        unfinished=_table(run_cols, unfinished, (), "None."),
        failed=tests_html,
        flags=flags_html,
        nothing=_table(["student"], nothing, (), "None."),
        grades=_table(header, wide_rows, range(3, len(header))),
    )


def write_report(
    grades_csv: str | Path, out: str | Path | None = None, results: str | Path | None = None
) -> dict[str, Path]:
    """Write ``OUT/report/`` (default OUT: the gradebook's folder); return the paths written.

    ``results``: the per-student results (default ``results/`` next to the gradebook).
    """
    grades_csv = Path(grades_csv)
    rows, columns = read_gradebook(grades_csv)
    folder = (Path(out) if out is not None else grades_csv.parent) / "report"
    results_dir = Path(results) if results is not None else grades_csv.parent / "results"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CourseError(f"{folder}: cannot create the report folder ({err.strerror}).") from None
    (records, broken), wide = read_results(results_dir, rows), wide_table(rows)
    failures = failed_tests(records)
    paths = {"wide": folder / "wide.csv", "page": folder / "index.html"}
    with paths["wide"].open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([wide[0], *wide[1]])
    uris = plots(rows, failures, folder)
    args = (wide, str(grades_csv), broken, results_dir.is_dir())
    paths["page"].write_text(render_html(rows, columns, failures, uris, *args), "utf-8")
    return paths
