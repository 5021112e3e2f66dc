"""production: each family refit on every labelled row and each ensemble's combiner fitted on
every out-of-fold row, versioned with their manifests, promoted by gates on the out-of-fold
evidence (model_ranking); and the live predictions of every bar after the last labelled one."""

from pathlib import Path

import dagster as dg
import polars as pl

from assets.metadata import markdown_table, table
from foxml_dagster.dataset import read_training_frame
from foxml_dagster.ensemble import (
    ENSEMBLE_FAMILY,
    combiner_from_state,
    ensemble_family,
    fit_combiner,
    members,
)
from foxml_dagster.models import ModelFamily
from foxml_dagster.promotion import decide
from foxml_dagster.training.production import (
    LIVE_SCHEMA,
    live_panel,
    predict_live,
    refit_production,
    save_combiner,
    save_production,
)
from jobs.executor import WHOLE_MACHINE_TAG
from resources.home import Experiment, FoxmlHome
from resources.ray import RayResource

GROUP = "production"

PRODUCTION_SCHEMA = {
    "family": pl.String,
    "target": pl.String,
    "kind": pl.String,
    "promoted": pl.Boolean,
    "reason": pl.String,
    "version": pl.String,
    "path": pl.String,
    "members": pl.String,
    "variant": pl.String,
    "config_hash": pl.String,
    "data_hash": pl.String,
    "code_version": pl.String,
    "train_start": pl.Datetime("us", "UTC"),
    "train_end": pl.Datetime("us", "UTC"),
    "knowledge_end": pl.Datetime("us", "UTC"),
    "n_train": pl.Int64,
    "n_fit": pl.Int64,
    "n_val": pl.Int64,
    "fit_seconds": pl.Float64,
}


@dg.asset(
    group_name=GROUP,
    kinds={"polars", "parquet"},
    op_tags={WHOLE_MACHINE_TAG: "true"},
    description="The models that act on today's bar. Per family and target, a refit on every labelled row (same "
    "features, parameters, seed, sample weights and early-stopping policy as the folds: the last "
    "training.val_fraction of the timeline, purged by label span, held out); per ensemble and target, its "
    "combiner fitted on every out-of-fold row. Each is versioned under $FOXML_HOME/models/production/<family>/"
    "<target>/<version>/ with a manifest (config, data and code hashes, cutoff). `promoted` says whether its "
    "out-of-fold evidence (model_ranking) passed production.gates, and `reason` why or why not. Production fits "
    "are never scored: their evidence is their family's out-of-fold record.",
)
def production_models(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    home: FoxmlHome,
    ray: RayResource,
    training_frame: pl.LazyFrame,
    selected_features: pl.DataFrame,
    oof_predictions: pl.DataFrame,
    model_ranking: pl.DataFrame,
) -> pl.DataFrame:
    cfg = experiment.config
    chosen = selected_features.filter(pl.col("selected"))["feature"].to_list()
    runner = ray.runner()
    result = refit_production(
        training_frame,  # read one target at a time
        feature_columns=chosen,
        families=cfg.training.resolved_families(),
        seed=cfg.training.seed,
        runner=runner,
        val_fraction=cfg.training.val_fraction,
        memory_mb=cfg.training.memory_mb,
    )
    folder = home.layout.models / "production"
    rows = save_production(
        result, folder, seed=cfg.training.seed, feature_columns=chosen, val_fraction=cfg.training.val_fraction
    )
    refits = {(r["family"], r["target"]): r for r in rows}
    frame = read_training_frame(training_frame)  # keys and labels: what the combiners use
    for target in sorted({r["target"] for r in rows}):
        m = members(oof_predictions, frame, target)
        versions = {f: refits[(f, target)]["version"] for f in m.families if (f, target) in refits}
        if len(versions) < len(m.families):
            continue  # a member without a production fit: its ensembles cannot run live
        span = [refits[(f, target)] for f in m.families]
        for method in ("equal", *cfg.ensemble.methods):
            combiner = fit_combiner(m, method, cfg.ensemble, embargo_pct=cfg.splits.embargo_pct)
            rows.append(
                save_combiner(
                    combiner.state(),
                    folder,
                    family=ensemble_family(method),
                    target=target,
                    members=versions,
                    train_start=min(r["train_start"] for r in span),
                    train_end=max(r["train_end"] for r in span),
                    knowledge_end=max(r["knowledge_end"] for r in span),
                    n_train=len(m.y),
                )
            )
            rows[-1]["members"] = ",".join(f"{f}@{v}" for f, v in sorted(versions.items()))
    decisions = decide(model_ranking, cfg.production.gates)
    frame = (
        pl.DataFrame(rows)
        .join(decisions, on=["family", "target"], how="left")
        .with_columns(
            pl.col("promoted").fill_null(False),
            pl.col("reason").fill_null("refused: no out-of-fold evidence in model_ranking"),
            pl.when(pl.col("family").str.starts_with(ENSEMBLE_FAMILY))
            .then(pl.lit("ensemble"))
            .otherwise(pl.lit("family"))
            .alias("kind"),
        )
    )
    missing = [
        pl.lit(None, dtype).alias(name) for name, dtype in PRODUCTION_SCHEMA.items() if name not in frame.columns
    ]
    frame = frame.with_columns(missing).select(list(PRODUCTION_SCHEMA)).cast(PRODUCTION_SCHEMA).sort("target", "family")
    promoted = frame.filter(pl.col("promoted"))
    refused = frame.filter(~pl.col("promoted"))
    context.add_output_metadata(
        {
            "dagster/row_count": frame.height,
            "promoted": promoted.height,
            "refused": refused.height,
            "cutoff": str(result.as_of),
            "gates": dg.MetadataValue.json(cfg.production.gates.model_dump(mode="json")),
            "decisions": table(frame.select("target", "family", "promoted", "reason", "version", "train_end")),
            "skipped": markdown_table(pl.DataFrame(result.skipped, schema=["target", "family", "reason"], orient="row"))
            if result.skipped
            else "none",
        }
    )
    return frame


@dg.asset(
    group_name=GROUP,
    kinds={"polars", "parquet"},
    description="Every production model's score for every bar after its last training row up to the newest bar, "
    "from the same features (features left-joined to the cross-sectional features, bars still warming up "
    "skipped): model_id (version) family target symbol ts y_score promoted version train_end. Ensembles "
    "combine their members' live scores with the combiner fitted on the out-of-fold record. Refused models "
    "score too (shadow), with promoted false: only promoted ones reach the signals.",
)
def live_predictions(
    context: dg.AssetExecutionContext,
    production_models: pl.DataFrame,
    features: pl.DataFrame,
    cross_sectional_features: pl.DataFrame,
    selected_features: pl.DataFrame,
) -> pl.DataFrame:
    chosen = selected_features.filter(pl.col("selected"))["feature"].to_list()
    panel = live_panel(features, cross_sectional_features, chosen)
    parts, by_member = [], {}
    for row in production_models.filter(pl.col("kind") == "family").iter_rows(named=True):
        model = ModelFamily.load(row["path"])
        scored = predict_live(model, panel, chosen, after=row["train_end"])
        by_member[(row["family"], row["target"])] = scored
        parts.append(_live_rows(scored, row))
    for row in production_models.filter(pl.col("kind") == "ensemble").iter_rows(named=True):
        combiner = combiner_from_state(_read_json(row["path"]))
        wide = None
        for family in combiner.families:
            scored = by_member[(family, row["target"])].rename({"y_score": family})
            wide = scored if wide is None else wide.join(scored, on=["symbol", "ts"], how="inner")
        if wide is None or wide.is_empty():
            continue
        combined = wide.select(
            "symbol", "ts", pl.Series("y_score", combiner.predict(wide.select(combiner.families).to_numpy()))
        )
        parts.append(_live_rows(combined, row))
    frame = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame(schema=LIVE_SCHEMA)
    frame = frame.select(list(LIVE_SCHEMA)).cast(LIVE_SCHEMA).sort("family", "target", "symbol", "ts")  # type: ignore[arg-type]
    newest_bar = panel.get_column("ts").max() if panel.height else None
    context.add_output_metadata(
        {
            "dagster/row_count": frame.height,
            "newest_bar": str(features.get_column("ts").max()),
            "newest_prediction": str(frame.get_column("ts").max()) if frame.height else "none",
            "newest_complete_bar": str(newest_bar),
            "models": markdown_table(
                frame.group_by("family", "target", "promoted")
                .agg(pl.len().alias("rows"), pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
                .sort("target", "family")
            )
            if frame.height
            else "none",
        }
    )
    return frame


def _live_rows(scored: pl.DataFrame, row: dict) -> pl.DataFrame:
    return scored.with_columns(
        pl.lit(f"{row['family']}:{row['target']}@{row['version']}").alias("model_id"),
        pl.lit(row["family"]).alias("family"),
        pl.lit(row["target"]).alias("target"),
        pl.lit(row["promoted"]).alias("promoted"),
        pl.lit(row["version"]).alias("version"),
        pl.lit(row["train_end"]).cast(pl.Datetime("us", "UTC")).alias("train_end"),
    )


def _read_json(path: str) -> dict:
    import json

    return json.loads(Path(path).read_text())
