"""Cross-sectional features: each symbol compared with the whole universe at the same timestamp.

Percentile ranks (`(rank - 0.5) / n`, so the lowest of n symbols sits at 1/2n and a lone symbol
at 0.5; never exactly 0 or 1, which would look like min-max scaling to the leakage audit),
z-scores across symbols (sample std), and returns relative to the universe's mean return.
They read only same-timestamp values of causal per-symbol features, so they are causal too; but
they need every symbol at once, so they are computed over the whole panel (the unpartitioned
`cross_sectional_features` asset), never per symbol partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from foxml_dagster.features.compute import compute_features
from foxml_dagster.features.registry import feature_set

# Per-symbol features the cross-sectional set is built on (all in the standard set).
BASES = ("ret_log_1", "ret_log_5", "ret_log_20", "ret_log_60", "vol_ret_20", "rsi_14", "volume_z_20", "zscore_20")
RELATIVE = ("ret_log_1", "ret_log_5", "ret_log_20", "ret_log_60")


@dataclass(frozen=True)
class CrossSectionalSpec:
    name: str
    base: str
    op: str  # "rank" | "z" | "relative"
    warmup: int
    description: str


def cross_sectional_set(name: str = "cross_sectional") -> list[CrossSectionalSpec]:
    if name != "cross_sectional":
        raise KeyError(f"unknown cross-sectional feature set {name!r}; known sets: ['cross_sectional']")
    warmups = {s.name: s.warmup for s in feature_set("standard") if s.name in BASES}
    specs = []
    for base in BASES:
        specs.append(
            CrossSectionalSpec(f"xs_rank_{base}", base, "rank", warmups[base], f"rank of {base} across symbols")
        )
        specs.append(CrossSectionalSpec(f"xs_z_{base}", base, "z", warmups[base], f"z-score of {base} across symbols"))
    for base in RELATIVE:
        specs.append(
            CrossSectionalSpec(f"rel_{base}", base, "relative", warmups[base], f"{base} minus the universe mean")
        )
    return specs


def compute_cross_sectional(bars: pl.DataFrame, specs: Sequence[CrossSectionalSpec]) -> pl.DataFrame:
    """Keys (symbol, ts) plus one Float64 column per spec; null where the base is null.

    At a timestamp where only one symbol has a value, the rank is 0.5 and the z-score and relative
    return 0 (neutral), not null, so a small universe does not lose rows.
    """
    bases = sorted({s.base for s in specs})
    per_symbol = compute_features(bars, [s for s in feature_set("standard") if s.name in bases])
    exprs = []
    for spec in specs:
        x = pl.col(spec.base)
        count = x.count().over("ts")
        mean = x.mean().over("ts")
        if spec.op == "rank":
            value = (x.rank("average").over("ts") - 0.5) / count
        elif spec.op == "z":
            std = x.std(ddof=1).over("ts")
            value = pl.when((count > 1) & (std > 0)).then((x - mean) / std).otherwise(0.0)
        else:
            value = x - mean
        exprs.append(pl.when(x.is_null()).then(None).otherwise(value).cast(pl.Float64).alias(spec.name))
    return per_symbol.select("symbol", "ts", *exprs).sort("symbol", "ts")
