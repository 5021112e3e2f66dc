"""Where a run writes: everything lives under FOXML_HOME (default ./var), except the lake when
a `lake_uri` (FOXML_LAKE_URI, e.g. s3://bucket/lake) puts it on object storage."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class HomeLayout:
    """The folders under FOXML_HOME, named once so every part agrees on them.

    `lake_uri` moves only the lake (every asset's Parquet): the catalog, the Dagster instance,
    models and reports stay local under `root`.
    """

    root: Path
    lake_uri: str | None = None

    @property
    def lake(self) -> Any:
        """`root/lake`, or the `lake_uri` folder (a `Path`, or a `UPath` on object storage)."""
        if not self.lake_uri:
            return self.root / "lake"
        from foxml_dagster.storage import lake_path  # storage imports duckdb: only when asked

        return lake_path(self.lake_uri)

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"


def foxml_home() -> HomeLayout:
    """The layout rooted at $FOXML_HOME, or ./var when it is unset; the lake at $FOXML_LAKE_URI
    when that is set."""
    return HomeLayout(Path(os.environ.get("FOXML_HOME", "var")).resolve(), os.environ.get("FOXML_LAKE_URI") or None)
