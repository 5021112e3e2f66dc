"""Where a run writes: everything lives under FOXML_HOME (default ./var)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class HomeLayout:
    """The folders under FOXML_HOME, named once so every part agrees on them."""

    root: Path

    @property
    def lake(self) -> Path:
        return self.root / "lake"

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
    """The layout rooted at $FOXML_HOME, or ./var when it is unset."""
    return HomeLayout(Path(os.environ.get("FOXML_HOME", "var")).resolve())
