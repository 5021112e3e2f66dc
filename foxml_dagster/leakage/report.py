"""The report's row shape and how failures are read back from it."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

REPORT_SCHEMA = {"check_name": pl.Utf8, "subject": pl.Utf8, "status": pl.Utf8, "value": pl.Float64, "detail": pl.Utf8}


def row(check: str, subject: str, failed: bool, value: float | None = None, detail: str = "") -> dict:
    return {
        "check_name": check,
        "subject": subject,
        "status": "fail" if failed else "pass",
        "value": value,
        "detail": detail,
    }


def leakage_report(rows: Sequence[dict]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=REPORT_SCHEMA)


def failures(report: pl.DataFrame) -> list[str]:
    """One line per failed row, naming the check and the culprit."""
    return [
        f"{r['check_name']} [{r['subject']}]: {r['detail']}"
        for r in report.filter(pl.col("status") == "fail").iter_rows(named=True)
    ]
