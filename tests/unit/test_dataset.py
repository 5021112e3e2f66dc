"""The training frame: which rows and symbols make it, and why the others do not."""

from __future__ import annotations

import polars as pl
import pytest

from foxml_dagster.dataset import BarsNeeded, TrainingFrameBuild, bars_needed, build_training_frame
from foxml_dagster.features import compute_features, feature_set
from foxml_dagster.labels import LabelsConfig, make_labels
from tests.conftest import random_walk_bars

LABELS = LabelsConfig()  # triple barrier h10 over a 20-bar volatility, forward return h5


@pytest.fixture(scope="module")
def panel_with_short_symbols() -> pl.DataFrame:
    """A full symbol beside one with 15 bars and one with a single bar, late in the calendar."""
    full = random_walk_bars(("AAA",), n=300, seed=1)
    short = random_walk_bars(("SHORT",), n=300, seed=2).tail(15)
    single = random_walk_bars(("ONE",), n=300, seed=3).tail(1)
    return pl.concat([full, short, single])


def test_bars_needed_is_the_warmup_plus_the_shortest_label_horizon_plus_the_bar_itself() -> None:
    specs = feature_set("baseline")
    warmup = max(s.warmup for s in specs)
    needed = bars_needed(warmup, LABELS)
    assert (needed.bars, needed.target) == (warmup + 5 + 1, "fwd_ret_5")
    only_barrier = LabelsConfig(forward_returns={"horizons": []}, triple_barrier={"horizon": 3, "vol_window": 90})
    assert bars_needed(warmup, only_barrier).bars == 90 + 3 + 1


def test_symbols_too_short_for_one_training_row_are_listed_with_their_bars_and_the_reason(
    panel_with_short_symbols,
) -> None:
    bars = panel_with_short_symbols
    specs = feature_set("baseline")
    needed = bars_needed(max(s.warmup for s in specs), LABELS)
    built = build_training_frame(compute_features(bars, specs), make_labels(bars, LABELS), needed=needed)

    assert built.frame["symbol"].unique().to_list() == ["AAA"]
    left = {row["symbol"]: row for row in built.left_out.iter_rows(named=True)}
    assert set(left) == {"ONE", "SHORT"}
    assert (left["SHORT"]["bars"], left["ONE"]["bars"]) == (15, 1)
    assert left["ONE"]["labelled_bars"] == 0 and left["ONE"]["complete_feature_bars"] == 0
    assert left["SHORT"]["reason"].startswith(f"15 bars; a training row needs the features' warm-up ({needed.bars - 6}")
    assert f"{needed.bars} bars" in left["SHORT"]["reason"] and left["ONE"]["reason"].startswith("1 bar;")


def test_a_long_symbol_whose_features_are_never_complete_is_listed_with_that_reason(make_bars) -> None:
    bars = make_bars(symbols=("AAA", "GAP"), n=200)
    features = compute_features(bars, feature_set("baseline"))
    # A feature that is null throughout for one symbol, e.g. a volume feature on a volume-less feed.
    first = [c for c in features.columns if c not in ("symbol", "ts")][0]
    features = features.with_columns(
        pl.when(pl.col("symbol") == "GAP").then(None).otherwise(pl.col(first)).alias(first)
    )
    built = build_training_frame(features, make_labels(bars, LABELS), needed=BarsNeeded(60, 0, 5, "fwd_ret_5"))
    (row,) = built.left_out.iter_rows(named=True)
    assert row["symbol"] == "GAP" and row["bars"] == 200 and row["labelled_bars"] > 0
    assert "none with every feature defined" in row["reason"]


def test_nothing_is_left_out_when_every_symbol_is_long_enough(make_bars) -> None:
    bars = make_bars(n=200)
    built = build_training_frame(compute_features(bars, feature_set("baseline")), make_labels(bars, LABELS))
    assert built.left_out.is_empty() and built.left_out.columns[0] == "symbol"


def test_the_frame_streamed_in_symbol_batches_from_per_symbol_scans_is_the_whole_frame(make_bars, tmp_path) -> None:
    bars = make_bars(symbols=("AAA", "BBB", "CCC", "DDD"), n=200)
    features = compute_features(bars, feature_set("baseline"))
    labels = make_labels(bars, LABELS)
    cross = features.select("symbol", "ts", (pl.col(features.columns[2]) * 2).alias("xs_double"))
    whole = build_training_frame(features, labels, cross_sectional=cross)

    def scans(frame: pl.DataFrame, name: str) -> dict[str, pl.LazyFrame]:
        out = {}
        for (symbol,), part in frame.partition_by("symbol", as_dict=True).items():
            part.write_parquet(tmp_path / f"{name}_{symbol}.parquet")
            out[symbol] = pl.scan_parquet(tmp_path / f"{name}_{symbol}.parquet")
        return out

    # A budget below one symbol's rows: every symbol is a batch of its own.
    build = TrainingFrameBuild(scans(features, "f"), scans(labels, "l"), cross_sectional=cross, memory_budget_mb=0.01)
    batches = list(build)
    assert len(batches) == 2 * 4  # two targets x four symbol batches
    assert all(b["target"].n_unique() == 1 and b["symbol"].n_unique() == 1 for b in batches)
    streamed = pl.concat(batches)
    assert streamed.equals(whole.frame)
    assert streamed.equals(whole.frame.sort("target", "symbol", "ts"))
    assert (build.rows, build.rows_in_warmup) == (whole.frame.height, whole.rows_in_warmup)
    assert build.rows_in_warmup > 0 and "xs_double" in build.feature_columns
    assert build.symbols == {"AAA", "BBB", "CCC", "DDD"} and build.left_out.is_empty()
