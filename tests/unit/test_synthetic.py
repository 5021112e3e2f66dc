"""The synthetic bar generator: deterministic, in contract, and with each structure measurable."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from foxml_dagster.data.normalize import BARS_SCHEMA
from foxml_dagster.data.schema import contract_failures
from foxml_dagster.data.synthetic import Structure, calendar, parse_interval, symbol_names, synthetic_bars

# Everything switched off but the structure a test looks at, so each property is measured alone.
QUIET = Structure(vol_of_vol=0.0, jump_rate=0.0, gap_vol=0.0, missing_rate=0.0, halt_rate=0.0, late_start_fraction=0.0)


def with_(**changes) -> Structure:
    from dataclasses import replace

    return replace(QUIET, **changes)


def log_returns(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.with_columns(pl.col("close").log().diff().over("symbol").alias("r")).drop_nulls("r")


def excess_kurtosis(x: np.ndarray) -> float:
    z = (x - x.mean()) / x.std()
    return float((z**4).mean() - 3)


def autocorr(x: np.ndarray, lag: int = 1) -> float:
    return float(np.corrcoef(x[:-lag], x[lag:])[0, 1])


# --- contract and determinism --------------------------------------------------------------------


@pytest.mark.parametrize("interval", ["1min", "5min", "1h", "1d"])
def test_bars_are_in_the_canonical_schema_and_pass_the_contract(interval):
    bars = synthetic_bars(4, 1500, interval, seed=11)
    assert dict(bars.schema) == BARS_SCHEMA
    assert contract_failures(bars) == []
    assert (bars["volume"] > 0).all()
    assert bars["symbol"].unique().sort().to_list() == symbol_names(4)


def test_same_seed_gives_the_identical_frame_and_another_seed_does_not():
    first = synthetic_bars(5, 800, "5min", seed=42)
    assert first.equals(synthetic_bars(5, 800, "5min", seed=42))
    assert not first.equals(synthetic_bars(5, 800, "5min", seed=43))


def test_a_symbol_does_not_depend_on_which_others_are_generated():
    full = synthetic_bars(6, 500, "1h", seed=3)
    one = synthetic_bars(6, 500, "1h", seed=3, symbols=["SYN004"])
    assert one.equals(full.filter(pl.col("symbol") == "SYN004"))
    with pytest.raises(ValueError, match="SYN999"):
        synthetic_bars(6, 500, "1h", symbols=["SYN999"])


def test_it_scales_to_a_million_rows_quickly():
    import time

    began = time.perf_counter()
    bars = synthetic_bars(20, 60_000, "1min", seed=1)
    assert bars.height > 1_000_000
    assert time.perf_counter() - began < 10


# --- structure -----------------------------------------------------------------------------------


def test_volatility_clusters_squared_returns_are_autocorrelated():
    clustered = log_returns(synthetic_bars(1, 5000, "1d", seed=5, structure=with_(vol_of_vol=0.8)))["r"].to_numpy()
    flat = log_returns(synthetic_bars(1, 5000, "1d", seed=5, structure=QUIET))["r"].to_numpy()
    assert autocorr(clustered**2) > 0.05
    assert sum(autocorr(clustered**2, lag) for lag in range(1, 21)) > 0.5  # slow decay: clusters
    assert abs(sum(autocorr(flat**2, lag) for lag in range(1, 21))) < 0.3


def test_jumps_fatten_the_tails():
    jumpy = log_returns(synthetic_bars(1, 5000, "1d", seed=6, structure=with_(jump_rate=0.05)))["r"].to_numpy()
    calm = log_returns(synthetic_bars(1, 5000, "1d", seed=6, structure=QUIET))["r"].to_numpy()
    assert excess_kurtosis(jumpy) > 1
    assert abs(excess_kurtosis(calm)) < 0.5


def test_symbols_share_a_market_factor():
    returns = log_returns(synthetic_bars(6, 2000, "1d", seed=7, structure=QUIET))
    wide = returns.pivot(on="symbol", index="ts", values="r").drop("ts").drop_nulls().to_numpy()
    corr = np.corrcoef(wide, rowvar=False)
    off_diagonal = corr[~np.eye(corr.shape[0], dtype=bool)]
    assert off_diagonal.min() > 0.1
    market = wide.mean(axis=1)  # the equal-weight index tracks the factor
    assert all(np.corrcoef(column, market)[0, 1] > 0.4 for column in wide.T)


def test_intraday_volume_and_volatility_are_u_shaped():
    bars = synthetic_bars(4, 78 * 200, "5min", seed=8, structure=QUIET)
    minute = (bars["ts"].dt.hour().cast(pl.Int32) * 60 + bars["ts"].dt.minute().cast(pl.Int32)).alias("minute")
    shape = (
        log_returns(bars.with_columns(minute))
        .group_by("minute")
        .agg(pl.col("volume").mean(), pl.col("r").abs().mean().alias("abs_r"))
        .sort("minute")
    )
    ends = shape.filter(pl.col("minute").is_in([14 * 60 + 30, 20 * 60 + 55]))
    middle = shape.filter(pl.col("minute").is_between(17 * 60, 18 * 60))
    assert ends["volume"].min() > 2 * middle["volume"].mean()
    assert ends["abs_r"].min() > 1.3 * middle["abs_r"].mean()


def test_sessions_open_with_a_gap_and_bars_within_a_session_do_not():
    bars = synthetic_bars(3, 78 * 100, "5min", seed=9, structure=with_(gap_vol=0.01))
    steps = bars.with_columns(
        pl.col("close").shift().over("symbol").alias("previous_close"),
        (pl.col("ts").dt.date() != pl.col("ts").shift().over("symbol").dt.date()).alias("new_session"),
    ).drop_nulls("previous_close")
    jump = (steps["open"] / steps["previous_close"] - 1).abs()
    assert (jump.filter(~steps["new_session"]) < 1e-12).all()
    assert (jump.filter(steps["new_session"]) > 1e-6).mean() > 0.99


def test_missing_bars_appear_at_the_configured_rate():
    n_symbols, n_bars = 20, 2000
    bars = synthetic_bars(n_symbols, n_bars, "1d", seed=10, structure=with_(missing_rate=0.05))
    missing = 1 - bars.height / (n_symbols * n_bars)
    assert missing == pytest.approx(0.05, abs=0.01)


def test_halts_are_runs_of_missing_bars_at_the_configured_rate():
    n_symbols, n_bars, rate = 10, 2000, 0.02
    bars = synthetic_bars(n_symbols, n_bars, "1d", seed=12, structure=with_(halt_rate=rate, max_halt_bars=5))
    slots = pl.Series(calendar(n_bars, "1d", date(2020, 1, 2)).ts).dt.replace_time_zone("UTC")
    slot_of = pl.DataFrame({"ts": slots, "slot": np.arange(n_bars)})
    gaps = (
        bars.join(slot_of, on="ts")
        .with_columns((pl.col("slot").diff().over("symbol") - 1).alias("missed"))
        .filter(pl.col("missed") > 0)
    )
    assert gaps["missed"].min() >= 2  # with random misses off, every hole is a halt of 2+ bars
    expected = rate * n_symbols * n_bars
    assert 0.6 * expected < gaps.height < 1.2 * expected  # overlapping halts merge into one hole


def test_some_symbols_start_mid_way():
    n_bars = 1000
    slots = calendar(n_bars, "1d", date(2020, 1, 2)).ts
    late = synthetic_bars(10, n_bars, "1d", seed=13, structure=with_(late_start_fraction=1.0))
    starts = late.group_by("symbol").agg(pl.col("ts").min())["ts"].dt.replace_time_zone(None).to_numpy()
    assert (starts > slots[0]).all() and (starts <= slots[n_bars // 2]).all()
    on_time = synthetic_bars(10, n_bars, "1d", seed=13, structure=QUIET)
    assert on_time.group_by("symbol").agg(pl.col("ts").min())["ts"].n_unique() == 1


def test_intervals_set_the_bar_grid():
    assert [parse_interval(i) for i in ("1min", "5min", "1h", "1d")] == [1, 5, 60, 1440]
    for bad in ("2d", "0min", "400min", "5s", "hourly"):
        with pytest.raises(ValueError, match="interval"):
            parse_interval(bad)
    assert calendar(10, "1min", date(2020, 1, 2)).bars_per_session == 390
    assert calendar(10, "5min", date(2020, 1, 2)).bars_per_session == 78
    hourly = calendar(14, "1h", date(2020, 1, 3))  # a Friday: the second session is Monday
    assert hourly.bars_per_session == 7
    stamps = pl.Series(hourly.ts)
    assert stamps.dt.strftime("%a %H:%M").to_list()[5:9] == ["Fri 19:30", "Fri 20:30", "Mon 14:30", "Mon 15:30"]
    daily = pl.Series(calendar(10, "1d", date(2020, 1, 4)).ts)  # a Saturday: rolls to Monday
    assert daily.dt.weekday().max() <= 5 and (daily.dt.hour() == 0).all()
    assert daily[0].date() == date(2020, 1, 6)


# --- the configured calendar ---------------------------------------------------------------------


def as_text(bars: pl.DataFrame) -> pl.DataFrame:
    from foxml_dagster.config import ColumnMap
    from foxml_dagster.data.raw import to_raw_bars

    stamped = bars.with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%z"))
    return to_raw_bars(stamped, ColumnMap(), origin="synthetic")


@pytest.mark.parametrize(("interval", "n_bars"), [("1d", 40), ("5min", 78 * 40), ("1h", 7 * 40)])
def test_bars_on_an_exchange_calendar_are_all_in_session_and_on_the_grid(interval, n_bars):
    from foxml_dagster.data.normalize import normalize_bars
    from foxml_dagster.data.sessions import SessionsConfig

    # From late October: daylight saving ends, Thanksgiving closes, the day after closes early.
    bars = synthetic_bars(3, n_bars, interval, seed=4, start=date(2024, 10, 28), market="XNYS")
    result = normalize_bars(as_text(bars), timezone=None, sessions=SessionsConfig(calendar="XNYS", interval=interval))
    assert result.quarantine.is_empty() and result.realigned == 0
    assert result.bars.height == bars.height
    days = set(bars["ts"].dt.date().to_list())
    assert date(2024, 11, 28) not in days and date(2024, 11, 29) in days
    if interval != "1d":
        opens = bars.group_by(pl.col("ts").dt.date().alias("day")).agg(pl.col("ts").min().dt.time().alias("open"))
        assert set(opens["open"].cast(pl.Utf8)) == {"13:30:00", "14:30:00"}  # 09:30 New York, EDT and EST
        assert bars.filter(pl.col("ts").dt.date() == date(2024, 11, 29))["ts"].max().hour < 18  # 13:00 close


def test_the_readme_synthetic_example_works_as_typed(tmp_path, monkeypatch):
    import re

    import yaml

    from foxml_dagster.config import load_experiment
    from foxml_dagster.data.normalize import normalize_bars
    from foxml_dagster.paths import REPO_ROOT
    from resources.sources import make_source

    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"\*\*`synthetic`\*\*.*?```yaml\n(.*?)```", readme, re.S).group(1)
    experiment = yaml.safe_load((REPO_ROOT / "configs" / "experiment.yaml").read_text())
    experiment["data"].update(yaml.safe_load(block)["data"])  # what the user edits; the rest stays
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment))
    data = load_experiment(path).data
    source = make_source(data, tmp_path)
    assert source.symbols()[0] == "SYN000" and len(source.symbols()) == data.synthetic.n_symbols
    raw = source.read_raw("SYN007")
    result = normalize_bars(raw, timezone=data.timezone, sessions=data.sessions, plausibility=data.plausibility)
    assert result.quarantine.is_empty() and result.bars.height == raw.height > 10_000
