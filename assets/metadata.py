"""Small helpers that turn frames into readable Dagster metadata."""

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, *, max_rows: int = 30, digits: int = 4) -> dg.MetadataValue:
    """A markdown table of the first rows, floats rounded, for the asset's page in the UI."""
    shown = frame.head(max_rows).with_columns(pl.selectors.float().round(digits))
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "---|" * len(shown.columns)
    rows = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in shown.iter_rows()]
    more = [f"\n_{frame.height - max_rows} more rows_"] if frame.height > max_rows else []
    return dg.MetadataValue.md("\n".join([header, rule, *rows, *more]))
