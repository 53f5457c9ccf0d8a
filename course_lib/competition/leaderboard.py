"""Score every team's submissions and write the leaderboard (the Lecture 05 competition).

The submissions folder holds one folder per team (the folder name is the team name), each with
that team's CSV submissions. A submission's time is read from its file name,
``YYYYmmdd-HHMMSS.csv`` (e.g. ``20250314-093000.csv``, UTC); a file named otherwise gets the time
of its last modification (UTC). Every submission is scored (the history is kept); a broken one
shows its error message in the history and never stops the others.

Teams are ranked by their best public mAP@10; a tie goes to the team that reached it first, then
by name. With ``final=True`` the private scores are revealed and the final ranking uses the
private mAP@10 of each team's best public submission (as Kaggle does when a team selects none).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from course_lib.competition.scoring import PRIMARY, Solution, score_file
from course_lib.errors import CourseError

NAME_FORMAT = "%Y%m%d-%H%M%S"


@dataclass
class Entry:
    """One scored (or rejected) submission."""

    team: str
    file: str
    time: datetime
    scores: dict | None = None
    error: str | None = None

    def score(self, usage: str) -> float | None:
        return None if self.scores is None else self.scores[usage][PRIMARY]


@dataclass
class Team:
    """A team, its history (oldest first) and its best public submission, if any."""

    name: str
    history: list[Entry] = field(default_factory=list)
    best: Entry | None = None


def submission_time(path: Path) -> datetime:
    """Return the time in the file name ``YYYYmmdd-HHMMSS.csv``, else the file's mtime (UTC)."""
    try:
        return datetime.strptime(path.stem, NAME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(microsecond=0)


def collect(submissions_dir: str | Path, solution: Solution) -> list[Team]:
    """Score every ``*.csv`` in every team folder; return the teams ranked by public score."""
    root = Path(submissions_dir)
    if not root.is_dir():
        raise CourseError(f"{root}: expected a folder with one folder per team.")
    teams = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        team = Team(folder.name)
        for path in folder.glob("*.csv"):
            entry = Entry(team.name, path.name, submission_time(path))
            try:
                entry.scores = score_file(path, solution)
            except CourseError as err:
                entry.error = str(err).replace(str(path), path.name)
            team.history.append(entry)
        team.history.sort(key=lambda e: (e.time, e.file))
        scored = [e for e in team.history if e.scores is not None]
        if scored:
            team.best = min(scored, key=lambda e: (-e.score("public"), e.time, e.file))
        teams.append(team)
    return rank(teams, "public")


def rank(teams: list[Team], usage: str) -> list[Team]:
    """Order teams by the ``usage`` score of their best public submission, then time, then name."""
    far = datetime.max.replace(tzinfo=UTC)

    def key(team: Team):
        if team.best is None:
            return (1, 0.0, far, team.name)
        return (0, -team.best.score(usage), team.best.time, team.name)

    return sorted(teams, key=key)


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _md(text: str) -> str:
    """Escape text for a Markdown table cell."""
    text = " ".join(str(text).split())
    for ch in "\\|*_`[]<>#":
        text = text.replace(ch, "\\" + ch)
    return text


def _rows(teams: list[Team], final: bool) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """Return the header, ranking rows and history rows shared by Markdown and HTML."""
    head = ["#", "team", "public mAP@10"] + (["private mAP@10"] if final else [])
    head += ["best submission", "entries"]
    ranking = []
    for k, t in enumerate(teams, start=1):
        b = t.best
        row = [str(k), t.name, _fmt(b.score("public") if b else None)]
        row += [_fmt(b.score("private") if b else None)] if final else []
        row += [f"{b.file} ({b.time:%Y-%m-%d %H:%M:%S})" if b else "", str(len(t.history))]
        ranking.append(row)
    history = []
    for t in sorted(teams, key=lambda t: t.name):
        for e in t.history:
            row = [t.name, e.file, f"{e.time:%Y-%m-%d %H:%M:%S}", _fmt(e.score("public"))]
            row += [_fmt(e.score("private"))] if final else []
            history.append(row + [e.error or ""])
    return head, ranking, history


def write_leaderboard(
    teams: list[Team], out_dir: str | Path, final: bool = False, title: str = "Leaderboard"
) -> tuple[Path, Path]:
    """Write leaderboard.md and a static leaderboard.html into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if final:
        teams = rank(teams, "private")
    head, ranking, history = _rows(teams, final)
    hist_head = ["team", "file", "time (UTC)", "public mAP@10"]
    hist_head += (["private mAP@10"] if final else []) + ["error"]
    stage = "final (private scores revealed)" if final else "public (30% of the queries)"
    times = [e.time for t in teams for e in t.history]
    stamp = f"{max(times):%Y-%m-%d %H:%M:%S} UTC" if times else "none yet"

    def md_table(header, rows):
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return lines + ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]

    md = [f"# {_md(title)}", "", f"Stage: {stage}. Latest submission: {stamp}.", ""]
    md += md_table(head, ranking) + ["", "## History", ""] + md_table(hist_head, history)
    md_path = out / "leaderboard.md"
    md_path.write_text("\n".join(md) + "\n", "utf-8")

    def html_table(header, rows):
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = [f"<tr>{cells}</tr>"]
        for row in rows:
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        return "<table>\n" + "\n".join(body) + "\n</table>"

    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>body{{font-family:sans-serif}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}</style>\n"
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
        f"<p>Stage: {html.escape(stage)}. Latest submission: {stamp}.</p>\n"
        f"{html_table(head, ranking)}\n<h2>History</h2>\n{html_table(hist_head, history)}\n"
        "</body>\n</html>\n"
    )
    html_path = out / "leaderboard.html"
    html_path.write_text(page, "utf-8")
    return md_path, html_path
