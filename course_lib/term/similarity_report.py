"""The similarity report: ``index.html`` (side by side, highlighted) and ``pairs.csv``.

Course operations, introduced with Lecture 05's class competition. One self-contained page (no
network, no script): the ranked pairs, then for the most similar ones both students' graded
regions side by side with the shared passages highlighted (copydetect's ``highlight_overlap``,
which escapes the code). Every name and message is escaped. ``pairs.csv`` lists every pair with
shared code. The page flags pairs for a person to read; it says so, and it changes no grade.
"""

from __future__ import annotations

import csv
import html
import io
from pathlib import Path

from course_lib.grading.sheet import write_atomic
from course_lib.term.similarity import Pair, Work

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"
TABLE_ROWS = 200  # Pairs listed on the page at most; pairs.csv has them all.
PAIR_FIELDS = ["rank", "student_a", "student_b", "similarity_a", "similarity_b", "shared_tokens"]
PAIR_FIELDS += ["flagged", "file_a", "file_b"]

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Similarity of graded regions, Lecture {lecture}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.flagged td {{ background: #fdecea; }}
.note {{ background: #eef4fb; border-left: 4px solid #3b78c2; padding: 0.5em 1em; }}
.pair {{ border-top: 2px solid #888; margin-top: 2em; }}
.side {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }}
.side > div {{ min-width: 0; }}
pre {{ background: #f7f7f7; border: 1px solid #ddd; padding: 0.5em; overflow-x: auto;
      font-size: 12px; line-height: 1.35; }}
mark {{ background: #ffcf66; }}
</style></head><body>
<h1>Similarity of graded regions: Lecture {lecture}</h1>
<p class="note">These pairs are for a person to read: similar code is not proof of copying, and
this report changes no grade. The released exercise ({exercise}) is distribution code and never
counts; passages found in more than {common} submissions are ignored as common; matches shorter
than {noise} characters of normalised code are noise. Similarity A is the share of A's graded
code found in B's, and the other way round.</p>
<p>{compared} submissions compared, {pairs} pairs with shared code, {flagged} at or above
{threshold:.0%}.</p>
{skipped}
<h2>Pairs, most similar first</h2>
{table}
{sections}
</body></html>
"""


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _highlighted(work: Work, slices) -> str:
    from copydetect.utils import highlight_overlap

    if slices is None or len(slices[0]) == 0:
        return html.escape(work.text)
    text, _ = highlight_overlap(work.text, slices, MARK_OPEN, MARK_CLOSE, escape_html=True)
    return text


def _side(work: Work, similarity: float, slices) -> str:
    head = (
        f"<h3>{html.escape(work.student)}: {_percent(similarity)}</h3>"
        f"<p>{html.escape(work.file.name)}, {html.escape(work.scope)}</p>"
    )
    return f"<div>{head}<pre><code>{_highlighted(work, slices)}</code></pre></div>"


def render(
    pairs: list[Pair],
    works: list[Work],
    skipped: list[tuple[str, str]],
    lecture: str,
    exercise: str,
    threshold: float,
    top: int,
    common: int,
    noise: int,
) -> str:
    """The report page's HTML."""
    rows = []
    for rank, pair in enumerate(pairs[: max(top, TABLE_ROWS)], start=1):
        flagged = pair.score >= threshold
        link = f'<a href="#pair-{rank}">{rank}</a>' if rank <= top else str(rank)
        cells = [
            link,
            html.escape(pair.a.student),
            html.escape(pair.b.student),
            f'<td class="num">{_percent(pair.similarity_a)}</td>',
            f'<td class="num">{_percent(pair.similarity_b)}</td>',
            f'<td class="num">{pair.shared_tokens}</td>',
            "yes" if flagged else "",
        ]
        cells = [c if c.startswith("<td") else f"<td>{c}</td>" for c in cells]
        opening = '<tr class="flagged">' if flagged else "<tr>"
        rows.append(f"{opening}{''.join(cells)}</tr>")
    header = "".join(
        f"<th>{name}</th>"
        for name in ("#", "A", "B", "similarity A", "similarity B", "shared tokens", "flagged")
    )
    table = (
        f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        if rows
        else "<p>No two submissions share any code beyond the exercise and common passages.</p>"
    )
    if len(pairs) > len(rows):
        table += f"<p>{len(pairs) - len(rows)} less similar pairs are listed in pairs.csv.</p>"
    sections = []
    for rank, pair in enumerate(pairs[:top], start=1):
        title = (
            f"{rank}. {html.escape(pair.a.student)} and {html.escape(pair.b.student)}: "
            f"{pair.shared_tokens} shared tokens"
        )
        sides = _side(pair.a, pair.similarity_a, pair.slices_a) + _side(
            pair.b, pair.similarity_b, pair.slices_b
        )
        sections.append(
            f'<section class="pair" id="pair-{rank}"><h2>{title}</h2>'
            f'<div class="side">{sides}</div></section>'
        )
    skipped_html = ""
    if skipped:
        items = "".join(
            f"<li>{html.escape(name)}: {html.escape(reason)}</li>" for name, reason in skipped
        )
        skipped_html = f"<p>Not compared ({len(skipped)}):</p><ul>{items}</ul>"
    return PAGE.format(
        lecture=html.escape(lecture),
        exercise=html.escape(exercise),
        common=common,
        noise=noise,
        compared=len(works),
        pairs=len(pairs),
        flagged=sum(p.score >= threshold for p in pairs),
        threshold=threshold,
        skipped=skipped_html,
        table=table,
        sections="\n".join(sections),
    )


def _cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula (as the gradebook's)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def pairs_csv(pairs: list[Pair], threshold: float) -> str:
    """``pairs.csv``: every pair with shared code, ranked."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(PAIR_FIELDS)
    for rank, p in enumerate(pairs, start=1):
        writer.writerow(
            [
                rank,
                _cell(p.a.student),
                _cell(p.b.student),
                f"{p.similarity_a:.4f}",
                f"{p.similarity_b:.4f}",
                p.shared_tokens,
                "yes" if p.score >= threshold else "",
                _cell(p.a.file.name),
                _cell(p.b.file.name),
            ]
        )
    return text.getvalue()


def write_report(out: Path, page: str, table: str) -> dict[str, Path]:
    """Write ``index.html`` and ``pairs.csv`` into ``out``; returns their paths."""
    paths = {"page": out / "index.html", "pairs": out / "pairs.csv"}
    write_atomic(paths["page"], page)
    write_atomic(paths["pairs"], table)
    return paths
