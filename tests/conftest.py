"""Shared fixtures: a private FOXML_HOME per test session and small slices of the real sample."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from foxml_dagster.config import ColumnMap
from foxml_dagster.data.normalize import normalize_bars
from resources.sources import SampleSource

SAMPLE_COLUMNS = ColumnMap(
    symbol="Ticker",
    ts="Date",
    open="Open",
    high="High",
    low="Low",
    close="Close",
    volume="Volume",
    adj_close="Adj Close",
)


@pytest.fixture(scope="session")
def sample_bars() -> pl.DataFrame:
    """Clean daily bars of the five sample stocks, 2000-2013."""
    source = SampleSource(SAMPLE_COLUMNS, [])
    raw = pl.concat([source.read_raw(s) for s in source.symbols()])
    return normalize_bars(raw, timezone="UTC").bars


def random_walk_bars(symbols=("AAA", "BBB", "CCC"), n: int = 400, seed: int = 0) -> pl.DataFrame:
    """Synthetic OHLCV bars with a shared daily calendar, consistent by construction."""
    rng = np.random.default_rng(seed)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    stamps = pl.Series("ts", [start + timedelta(days=i) for i in range(n)]).cast(pl.Datetime("us", "UTC"))
    frames = []
    for symbol in symbols:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
        open_ = close * np.exp(rng.normal(0, 0.003, n))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": [symbol] * n,
                    "ts": stamps,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": rng.uniform(1e5, 1e6, n),
                }
            )
        )
    return pl.concat(frames)


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """A private FOXML_HOME (and DAGSTER_HOME inside it) for one test."""
    root = tmp_path / "home"
    monkeypatch.setenv("FOXML_HOME", str(root))
    monkeypatch.setenv("DAGSTER_HOME", str(root / "dagster"))
    (root / "dagster").mkdir(parents=True)
    return root


os.environ.setdefault("POLARS_MAX_THREADS", "2")
# Training runs in-process unless a test opts into the session's Ray cluster (tests/integration/
# test_ray_training.py): a local Ray per pipeline test would cost ~5 s and ~1 GB each.
os.environ.setdefault("FOXML_RAY", "0")


@pytest.fixture
def make_bars():
    """Factory of synthetic bars: make_bars(symbols=..., n=..., seed=...)."""
    return random_walk_bars


SMALL_EXPERIMENT = (Path(__file__).parent / "experiments" / "small.yaml").read_text()


@pytest.fixture
def small_experiment(home: Path, monkeypatch) -> Path:
    """A quick experiment (3 sample stocks from 2010, 3 folds) in force via FOXML_CONFIG."""
    path = home / "experiment.yaml"
    path.write_text(SMALL_EXPERIMENT)
    monkeypatch.setenv("FOXML_CONFIG", str(path))
    return path


@pytest.fixture(scope="session")
def ray_cluster():
    """One real local Ray for the whole session: ~5 s and ~1 GB to start, so never per test.
    Ray is a hard dependency: a missing Ray fails the tests that need it, never skips them."""
    import ray

    from resources.ray import local_only_ray

    if not ray.is_initialized():
        with local_only_ray():  # on 127.0.0.1 only, as the product's local Ray
            ray.init(
                include_dashboard=False,
                num_cpus=2,
                object_store_memory=200 * 2**20,
                log_to_driver=False,
                configure_logging=False,
            )
    yield ray
    ray.shutdown()
