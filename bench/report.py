"""The output of a run: one table (printed, and appended to docs/benchmarks.md) and its context.

Every row is one bounded load run. Its ratio is its requests per second divided by those of
scenario 1 (`GET /health/live/`, the in-app ceiling) measured in the same run, at the same data
scale. A row with errors, or that hit the time cap before its planned requests, is FAILED.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .loadgen import LoadResult


@dataclass
class Row:
    number: int  # the scenario's number (the numbering of the full benchmark set)
    scenario: str
    variant: str
    records: int | None  # progress records in the store while this row ran
    result: LoadResult
    baseline: LoadResult | None = None  # scenario 1 measured at the same scale in this run

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.requests_per_second <= 0:
            return None
        return self.result.requests_per_second / self.baseline.requests_per_second

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


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


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
            "-" if row.result.client_cpu_share is None else f"{row.result.client_cpu_share:.0%}",
            row.status,
        )
        for row in rows
    ]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |"]
    lines.append(
        "|"
        + "|".join("---:" if h not in ("Scenario", "Variant", "Result") else "---" for h in HEADERS)
        + "|"
    )
    lines.extend("| " + " | ".join(cells) + " |" for cells in table_rows(rows))
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    body = table_rows(rows)
    widths = [max(len(h), *(len(cells[i]) for cells in body)) for i, h in enumerate(HEADERS)]
    left = {"Scenario", "Variant", "Result"}

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
    if report.notes:
        parts.append("")
        parts.extend(f"- {note}" for note in report.notes)
    return "\n".join(parts) + "\n"


def render_text(report: Report) -> str:
    parts = [report.title, ""]
    parts.extend(f"{label}: {text}" for label, text in report.context)
    parts.append("")
    parts.append(text_table(report.rows) if report.rows else "(no rows)")
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
