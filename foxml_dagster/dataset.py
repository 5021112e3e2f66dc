"""The training frame: labels joined to the features known at their timestamp."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from foxml_dagster.labels import LabelsConfig
from foxml_dagster.memory import rows_within, whole_group_batches

KEYS = ("symbol", "ts")
LABEL_COLUMNS = ("target", "t1", "label", "ret", "barrier", "weight")

LEFT_OUT_SCHEMA = {
    "symbol": pl.Utf8,
    "bars": pl.Int64,
    "labelled_bars": pl.Int64,
    "complete_feature_bars": pl.Int64,
    "reason": pl.Utf8,
}


@dataclass(frozen=True)
class TrainingFrame:
    frame: pl.DataFrame
    feature_columns: list[str]
    rows_in_warmup: int  # labelled rows left out because a feature was still warming up
    #: Symbols with bars but no row in the frame (too short, or never complete): LEFT_OUT_SCHEMA.
    left_out: pl.DataFrame


@dataclass(frozen=True)
class BarsNeeded:
    """The fewest bars a symbol needs for one training row: the features' warm-up, then the bar
    itself, then the label horizon of the target that looks least far ahead."""

    feature_warmup: int
    label_warmup: int  # bars before a label can be computed (the barrier volatility's window)
    horizon: int | None  # bars ahead; None when every target's horizon is a duration
    target: str

    @property
    def bars(self) -> int | None:
        if self.horizon is None:
            return None
        return max(self.feature_warmup, self.label_warmup) + self.horizon + 1

    def describe(self) -> str:
        if self.horizon is None:
            return f"the features' warm-up ({self.feature_warmup} bars) and the label horizon of {self.target}"
        return (
            f"the features' warm-up ({max(self.feature_warmup, self.label_warmup)} bars), the bar itself and "
            f"the label horizon of {self.target} ({self.horizon} bars ahead): {self.bars} bars"
        )


def bars_needed(feature_warmup: int, labels: LabelsConfig) -> BarsNeeded:
    """What one training row needs, for the target that needs the fewest bars."""
    from foxml_dagster.labels.make import forward_return_target, triple_barrier_target

    tb = labels.triple_barrier
    options = [
        BarsNeeded(feature_warmup, 0, h, forward_return_target(h, labels.forward_returns))
        for h in labels.forward_returns.horizons
    ]
    # The barrier widths scale with a volatility over vol_window returns: none before that bar.
    tb_horizon = tb.horizon if tb.horizon_time is None else None
    options.append(BarsNeeded(feature_warmup, tb.vol_window, tb_horizon, triple_barrier_target(tb)))
    known = [o for o in options if o.bars is not None]
    return min(known, key=lambda o: o.bars) if known else options[-1]


def feature_columns(frame: pl.DataFrame | pl.Schema) -> list[str]:
    """The feature columns of a features or training frame (or its schema): all but keys and
    label columns."""
    columns = frame.names() if isinstance(frame, pl.Schema) else frame.columns
    return [c for c in columns if c not in KEYS and c not in LABEL_COLUMNS]


def read_training_frame(stored: pl.LazyFrame | pl.DataFrame, features: Sequence[str] = ()) -> pl.DataFrame:
    """The stored training frame's keys and label columns plus only `features`: a stage that
    uses k of the 200-odd feature columns reads k from the lake (none for label-only stages)."""
    return stored.lazy().select(*KEYS, *LABEL_COLUMNS, *features).collect()


def sample_per_target(stored: pl.LazyFrame | pl.DataFrame, max_rows: int | None, seed: int) -> pl.DataFrame:
    """At most `max_rows` rows of each target, drawn uniformly without replacement (seeded) and
    kept in the stored order, read from `stored` (the training frame in the lake) without loading
    the rest: what the sampled stages (leakage checks, feature selection) read, whatever the
    frame's size. The draw is `uniform_draw` on the target's rows, as `leakage.sample_rows` draws,
    so a check given this sample sees the rows it would have drawn from the whole frame."""
    lazy = stored.lazy()
    heights = lazy.group_by("target", maintain_order=True).len().collect()
    parts = []
    for target, height in heights.iter_rows():
        rows = lazy.filter(pl.col("target") == target)
        keep = uniform_draw(height, max_rows, seed)
        if keep is not None:
            rows = rows.with_row_index("_row").filter(pl.col("_row").is_in(pl.Series(keep, dtype=pl.UInt32)))
            rows = rows.drop("_row")
        parts.append(rows.collect())
    return pl.concat(parts) if parts else stored.lazy().head(0).collect()


def uniform_draw(n: int, max_rows: int | None, seed: int) -> np.ndarray | None:
    """Sorted positions of `max_rows` of `n` rows drawn uniformly without replacement; None
    when every row is kept."""
    if max_rows is None or n <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))


def build_training_frame(
    features: pl.DataFrame,
    labels: pl.DataFrame,
    *,
    cross_sectional: pl.DataFrame | None = None,
    needed: BarsNeeded | None = None,
) -> TrainingFrame:
    """The whole training frame in memory (see `TrainingFrameBuild`, which the pipeline streams
    to the lake instead): for tests and small panels."""
    build = TrainingFrameBuild(features, labels, cross_sectional=cross_sectional, needed=needed)
    frame = pl.concat(list(build))
    return TrainingFrame(frame, build.feature_columns, rows_in_warmup=build.rows_in_warmup, left_out=build.left_out)


# Bytes per frame row alive while a batch is made, per 8-byte column: the batch's features, the
# joined rows, and the rows kept once warm-up rows are dropped.
_COPIES_PER_ROW = 3

Panel = pl.DataFrame | pl.LazyFrame | Mapping[str, pl.LazyFrame]


class TrainingFrameBuild:
    """The training frame made one target and symbol batch at a time, in its stored order
    (target, symbol, ts), so no step holds the whole frame: iterate it and write each batch.

    Labels are inner-joined to the features on (symbol, ts), plus the cross-sectional features
    when given; rows with any null feature are left out (and counted): models see only samples
    whose every feature is defined. A symbol that ends with no row at all is reported in
    `left_out` with its counts and the reason (`needed` says how many bars a row takes).

    `features` and `labels` are frames, lazy scans, or one scan per symbol (the lake's per-symbol
    partitions, so a batch opens only its own files). Each batch holds whole symbols whose rows
    fit `memory_budget_mb` (without a budget: one batch per target). The counts
    (`rows`, `rows_in_warmup`, `symbols`, `left_out`) are complete once iteration ends.
    """

    def __init__(
        self,
        features: Panel,
        labels: Panel,
        *,
        cross_sectional: pl.DataFrame | pl.LazyFrame | None = None,
        needed: BarsNeeded | None = None,
        memory_budget_mb: float | None = None,
    ) -> None:
        self._features, self._labels = _per_symbol(features), _per_symbol(labels)
        self._cross = None if cross_sectional is None else cross_sectional.lazy()
        self._needed = needed
        names = feature_columns(_rows_of(self._features, list(self._features)[:1]).collect_schema())
        if self._cross is not None:
            names += [c for c in feature_columns(self._cross.collect_schema()) if c not in names]
        self.feature_columns: list[str] = names
        self._budget_mb = memory_budget_mb
        self.rows = 0
        self.rows_in_warmup = 0
        self.symbols: set[str] = set()
        self.targets: list[str] = []  # those with rows
        self.left_out = pl.DataFrame(schema=LEFT_OUT_SCHEMA)

    def __iter__(self) -> Iterator[pl.DataFrame]:
        symbols = sorted(self._features)
        labelled = _rows_of(self._labels, sorted(self._labels)).select(pl.col("target").unique().sort()).collect()
        batches = list(self._symbol_batches(symbols))
        empty = None
        for target in labelled["target"].to_list():
            for batch in batches:
                rows = self._rows(target, batch)
                empty = rows.head(0) if empty is None else empty
                if rows.height:
                    self.rows += rows.height
                    self.symbols.update(rows["symbol"].unique().to_list())
                    if target not in self.targets:
                        self.targets.append(target)
                    yield rows
        if self.rows == 0:  # still a frame with the full schema, so the stored asset has one
            yield empty if empty is not None else self._rows("", symbols[:1])
        missing = [s for s in symbols if s not in self.symbols]
        if missing:
            self.left_out = left_out_symbols(
                self._features_of(missing), _rows_of(self._labels, missing), self.feature_columns, self._needed
            )

    def _symbol_batches(self, symbols: list[str]) -> Iterator[list[str]]:
        if self._budget_mb is None:
            yield symbols
            return
        counts = [_rows_of(self._features, [s]).select(pl.len()).collect().item() for s in symbols]
        bytes_per_row = 8 * _COPIES_PER_ROW * (len(self.feature_columns) + len(LABEL_COLUMNS) + len(KEYS))
        start = 0
        for n in whole_group_batches(counts, rows_within(self._budget_mb, bytes_per_row)):
            yield symbols[start : start + n]
            start += n

    def _features_of(self, symbols: list[str]) -> pl.LazyFrame:
        features = _rows_of(self._features, symbols)
        if self._cross is None:
            return features
        return features.join(self._cross.filter(pl.col("symbol").is_in(symbols)), on=list(KEYS), how="left")

    def _rows(self, target: str, symbols: list[str]) -> pl.DataFrame:
        features = self._features_of(symbols)
        labels = _rows_of(self._labels, symbols).filter(pl.col("target") == target)
        # Counted on the keys alone: the rows a feature's warm-up keeps out of the frame.
        joined = labels.select(KEYS).join(features.select(KEYS), on=list(KEYS), how="inner")
        n_joined = joined.select(pl.len()).collect().item()
        rows = (
            labels.join(features, on=list(KEYS), how="inner")
            .drop_nulls(subset=self.feature_columns)
            .select(*KEYS, *LABEL_COLUMNS, *self.feature_columns)
            .sort("symbol", "ts")
            .collect()
        )
        self.rows_in_warmup += n_joined - rows.height
        return rows


def _per_symbol(panel: Panel) -> dict[str, pl.LazyFrame]:
    if isinstance(panel, Mapping):
        return dict(panel)
    frame = panel.lazy().collect()
    return {key: part.lazy() for (key,), part in frame.partition_by("symbol", as_dict=True).items()}


def _rows_of(panel: dict[str, pl.LazyFrame], symbols: list[str]) -> pl.LazyFrame:
    """The rows of `symbols` (a symbol with no rows, e.g. too short for a label, has no entry)."""
    present = [panel[s] for s in symbols if s in panel]
    if not present:
        return next(iter(panel.values())).head(0) if panel else pl.LazyFrame()
    return pl.concat(present, how="diagonal_relaxed")


def left_out_symbols(
    features: pl.LazyFrame,
    labels: pl.LazyFrame,
    names: list[str],
    needed: BarsNeeded | None = None,
) -> pl.DataFrame:
    """Why each symbol of `features` (one row per bar of the symbols with no training row) has
    no row: its bars, labelled bars and bars with every feature defined."""
    missing = features.collect()
    if missing.is_empty():
        return pl.DataFrame(schema=LEFT_OUT_SCHEMA)
    counts = missing.group_by("symbol").agg(
        pl.len().cast(pl.Int64).alias("bars"),
        pl.all_horizontal(pl.col(names).is_not_null()).sum().cast(pl.Int64).alias("complete_feature_bars")
        if names
        else pl.len().cast(pl.Int64).alias("complete_feature_bars"),
    )
    labelled = labels.group_by("symbol").agg(pl.col("ts").n_unique().cast(pl.Int64).alias("labelled_bars")).collect()
    rows = (
        counts.join(labelled, on="symbol", how="left")
        .with_columns(pl.col("labelled_bars").fill_null(0))
        .sort("symbol")
        .to_dicts()
    )
    for row in rows:
        row["reason"] = _why_left_out(row, needed)
    return pl.DataFrame(rows, schema=LEFT_OUT_SCHEMA)


def _why_left_out(row: dict, needed: BarsNeeded | None) -> str:
    n = row["bars"]
    counted = f"{n} bar{'s' if n != 1 else ''}"
    if needed is not None and needed.bars is not None and n < needed.bars:
        return f"{counted}; a training row needs {needed.describe()}"
    if row["labelled_bars"] == 0:
        return f"{counted}, none with a known label outcome" + (f"; a row needs {needed.describe()}" if needed else "")
    if row["complete_feature_bars"] == 0:
        return f"{counted}, none with every feature defined (still warming up, or a feature is null throughout)"
    return (
        f"{counted}: {row['labelled_bars']} labelled and {row['complete_feature_bars']} with every feature "
        "defined, but never the same bar"
    )
