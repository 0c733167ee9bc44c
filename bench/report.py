"""The output of a run: one table (printed, and appended to docs/benchmarks.md) and its context.

Every row is one bounded load run. Its ratio is its requests per second divided by those of
scenario 1 (`GET /health/live/`, the in-app ceiling) measured in the same run, at the same data
scale. A row with errors, or that hit the time cap before its planned requests, is FAILED.

Rows may carry targets (the issue's goals, stated for PostgreSQL + Redis): a least ratio to #1,
or a most time per request relative to another row of the run. Each is printed with PASS or
MISS; a MISS is a finding, not a failure of the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .loadgen import LoadResult


@dataclass
class Target:
    """A goal of one row: its ratio to #1 at least `minimum`; or, with `reference`, its time
    per request (the inverse of its requests per second) at most `factor` times that of the
    reference row (e.g. uncached list page 40 next to page 1)."""

    label: str
    minimum: float | None = None
    reference: Row | None = None
    factor: float | None = None

    def evaluate(self, row: Row) -> tuple[bool, str]:
        """(passed, text): a failed row misses every target."""
        if self.reference is not None:
            ours, theirs = row.result.requests_per_second, self.reference.result.requests_per_second
            value = theirs / ours if ours > 0 else float("inf")
            passed = value <= self.factor and row.result.ok and self.reference.result.ok
            return (
                passed,
                f"{value:.2f}x the time of {self.reference.variant} (<= {self.factor:.2f})",
            )
        value = row.ratio
        passed = value is not None and value >= self.minimum and row.result.ok
        shown = "-" if value is None else f"{value:.2f}"
        return passed, f"ratio {shown} (>= {self.minimum:.2f})"

    def cell(self, row: Row) -> str:
        passed, _text = self.evaluate(row)
        verdict = "PASS" if passed else "MISS"
        if self.reference is not None:
            return f"<= {self.factor:.2f}x {self.reference.variant.split(',')[0]} {verdict}"
        return f">= {self.minimum:.2f} {verdict}"


@dataclass
class Row:
    number: int  # the scenario's number (the numbering of the full benchmark set)
    scenario: str
    variant: str
    records: int | None  # progress records in the store while this row ran
    result: LoadResult
    baseline: LoadResult | None = None  # scenario 1 measured at the same scale in this run
    targets: list[Target] = field(default_factory=list)
    # What one request of the row costs, counted in process ("SQL 3, cache 2"), or None.
    per_request: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.requests_per_second <= 0:
            return None
        return self.result.requests_per_second / self.baseline.requests_per_second

    def target_cell(self) -> str:
        return "; ".join(target.cell(self) for target in self.targets) or "-"

    @property
    def status(self) -> str:
        result = self.result
        if result.ok:
            return "ok"
        problems = []
        if result.errors:
            problems.append(f"{result.errors} error{'s' if result.errors != 1 else ''}")
        if result.capped:
            problems.append(f"time cap after {result.completed}/{result.planned}")
        return "FAILED: " + ", ".join(problems)


@dataclass
class Report:
    title: str
    context: list[tuple[str, str]] = field(default_factory=list)  # (label, text) lines
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Row]:
        return [row for row in self.rows if not row.result.ok]

    def target_lines(self) -> list[str]:
        """One line per target of every row: what it is, what was measured, PASS or MISS."""
        lines = []
        for row in self.rows:
            for target in row.targets:
                passed, text = target.evaluate(row)
                where = f"#{row.number} {row.variant}" if row.variant else f"#{row.number}"
                lines.append(
                    f"{'PASS' if passed else 'MISS'} {target.label} ({where}, "
                    f"{_count(row.records)} records): {text}"
                )
        return lines


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


_LEFT = frozenset({"Scenario", "Variant", "Target", "SQL / cache per request", "Result"})
HEADERS = (
    "#",
    "Scenario",
    "Variant",
    "Progress records",
    "Requests",
    "Errors",
    "Req/s",
    "p50 ms",
    "p99 ms",
    "Ratio to #1",
    "Target",
    "SQL / cache per request",
    "Loadgen CPU",
    "Result",
)


def table_rows(rows: list[Row]) -> list[tuple[str, ...]]:
    return [
        (
            str(row.number),
            row.scenario,
            row.variant or "-",
            _count(row.records),
            f"{row.result.completed:,}",
            str(row.result.errors),
            f"{row.result.requests_per_second:,.0f}",
            _ms(row.result.p50),
            _ms(row.result.p99),
            "-" if row.ratio is None else f"{row.ratio:.2f}",
            row.target_cell(),
            row.per_request or "-",
            "-" if row.result.client_cpu_share is None else f"{row.result.client_cpu_share:.0%}",
            row.status,
        )
        for row in rows
    ]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |"]
    lines.append("|" + "|".join("---:" if h not in _LEFT else "---" for h in HEADERS) + "|")
    lines.extend("| " + " | ".join(cells) + " |" for cells in table_rows(rows))
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    body = table_rows(rows)
    widths = [max(len(h), *(len(cells[i]) for cells in body)) for i, h in enumerate(HEADERS)]
    left = _LEFT

    def line(cells) -> str:
        return "  ".join(
            cell.ljust(width) if header in left else cell.rjust(width)
            for cell, width, header in zip(cells, widths, HEADERS, strict=True)
        )

    return "\n".join([line(HEADERS), line(["-" * width for width in widths]), *map(line, body)])


def render_markdown(report: Report) -> str:
    parts = [f"### {report.title}", ""]
    parts.extend(f"- {label}: {text}" for label, text in report.context)
    parts.append("")
    parts.append(markdown_table(report.rows))
    targets = report.target_lines()
    if targets:
        parts.extend(["", "Targets (ratios to #1 in this run; set for PostgreSQL + Redis):", ""])
        parts.extend(f"- {line}" for line in targets)
    if report.notes:
        parts.append("")
        parts.extend(f"- {note}" for note in report.notes)
    return "\n".join(parts) + "\n"


def render_text(report: Report) -> str:
    parts = [report.title, ""]
    parts.extend(f"{label}: {text}" for label, text in report.context)
    parts.append("")
    parts.append(text_table(report.rows) if report.rows else "(no rows)")
    targets = report.target_lines()
    if targets:
        parts.extend(["", "Targets (ratios to #1 in this run; set for PostgreSQL + Redis):"])
        parts.extend(f"  {line}" for line in targets)
    if report.notes:
        parts.append("")
        parts.extend(f"* {note}" for note in report.notes)
    return "\n".join(parts) + "\n"


_HEADING = re.compile(r"^## ", re.MULTILINE)


def append_to_section(path: Path, section: str, text: str) -> None:
    """Insert `text` at the end of the `## <section>` part of a Markdown file.

    The section ends where the next `## ` heading starts (or at the end of the file); it is
    added at the end of the file when missing. Other sections are left exactly as they are.
    """
    document = path.read_text() if path.exists() else "# Benchmarks\n"
    heading = f"## {section}\n"
    found = re.search(rf"^## {re.escape(section)}[ \t]*$", document, re.MULTILINE)
    if found is None:
        path.write_text(document.rstrip("\n") + f"\n\n{heading}\n{text}")
        return
    following = _HEADING.search(document, found.end())
    end = following.start() if following else len(document)
    before = document[:end].rstrip("\n")
    after = document[end:]
    document = f"{before}\n\n{text}" + (f"\n{after}" if after else "")
    path.write_text(document)
