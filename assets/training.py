"""training: one asset pair per configured family, and the combined views downstream reads.

Per family `<f>`: `trained_models/<f>` (the saved models, one row per target and fold) and
`oof_predictions/<f>` (its out-of-fold scores), from one step, so selecting either retrains the
family alone. `trained_models` and `oof_predictions` union the families for downstream stages.

Why asset keys and not Dagster partitions: Dagster 1.13 cannot put assets with different
partitions definitions in one job, and `full_pipeline` (symbol-partitioned stages + everything
downstream) must stay one launchable job. The family list comes from the experiment, so the
assets are built by `build_training_assets(config)` when the code location loads.
"""

import dagster as dg
import polars as pl

from assets.metadata import markdown_table
from foxml_dagster.dataset import read_training_frame
from foxml_dagster.training import LEAK_KINDS, TrainingConfig, audit_predictions, train_out_of_fold
from jobs.executor import WHOLE_MACHINE_TAG
from resources.home import Experiment, FoxmlHome
from resources.ray import RayResource

_KINDS = {
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "logistic": "scikit-learn",
    "ridge": "scikit-learn",
    "random_forest": "scikit-learn",
    "extra_trees": "scikit-learn",
}


def family_keys(family: str) -> tuple[dg.AssetKey, dg.AssetKey]:
    return dg.AssetKey(["trained_models", family]), dg.AssetKey(["oof_predictions", family])


def _family_assets(family: str) -> dg.AssetsDefinition:
    models_key, oof_key = family_keys(family)
    kind = _KINDS.get(family, "pytorch")

    @dg.multi_asset(
        name=f"train_{family}",
        group_name="training",
        outs={
            "models": dg.AssetOut(
                key=models_key,
                kinds={kind, "parquet"},
                description=f"{family}: one row per (target, fold): saved model path, sizes, timing, "
                f"params, config and data hashes. Manifest: `$FOXML_HOME/models/{family}/manifest.json`.",
            ),
            "oof": dg.AssetOut(
                key=oof_key,
                kinds={"polars", "parquet"},
                description=f"{family}: out-of-fold scores (model_id family target fold symbol ts y_true y_score "
                "path); with CPCV folds one row per sample and backtest path.",
            ),
        },
        deps=["leakage_report"],
        op_tags={WHOLE_MACHINE_TAG: "true"},
        description=f"Fit the {family} family on every purged fold, one Ray task per (target, fold).",
    )
    def train_family(
        context: dg.AssetExecutionContext,
        experiment: Experiment,
        home: FoxmlHome,
        ray: RayResource,
        training_frame: pl.LazyFrame,
        folds: pl.DataFrame,
        selected_features: pl.DataFrame,
    ):
        from foxml_dagster.evaluation import score_predictions
        from foxml_dagster.training.manifest import save_family

        cfg = experiment.config.training
        spec = cfg.resolved_families()[family]
        chosen = selected_features.filter(pl.col("selected"))["feature"].to_list()
        runner = ray.runner()
        result = train_out_of_fold(
            training_frame,  # read one target at a time
            folds,
            feature_columns=chosen,
            families={family: spec},
            seed=cfg.seed,
            runner=runner,
            val_fraction=cfg.val_fraction,
            memory_mb=cfg.memory_mb,
        )
        frame = read_training_frame(training_frame)  # keys and labels: what scoring and the audit use
        # Re-derive from the predictions themselves that no model saw the outcome it predicts.
        problems = audit_predictions(result.oof, folds, frame)
        leaks = [p for p in problems if p.kind in LEAK_KINDS]
        if leaks:
            raise ValueError(
                f"{family}: out-of-fold predictions fail their audit; rebuild folds (splits.*) and retrain:\n"
                + "\n".join(f"- {p}" for p in leaks)
            )
        per_model = {}
        if result.oof.height:
            scores = score_predictions(result.oof, frame)
            for row in scores.filter(pl.col("fold") >= 0).iter_rows(named=True):
                per_model[f"{family}:{row['target']}:fold{row['fold']}"] = {
                    k: row[k] for k in ("n", "auc", "log_loss", "ic", "rank_ic")
                }
        rows, manifest = save_family(
            result,
            family,
            home.layout.models,
            seed=cfg.seed,
            feature_columns=chosen,
            val_fraction=cfg.val_fraction,
            metrics=per_model,
        )
        models = pl.DataFrame(rows)
        skipped = [f"{t} {fam} fold {f}: {why}" for t, fam, f, why in result.skipped]
        yield dg.Output(
            models,
            output_name="models",
            metadata={
                "models": models.height,
                "variant": str(spec.variant),
                "runner": runner.name,
                "config_hash": manifest["config_hash"],
                "code_version": manifest["code_version"],
                "fit_seconds": float(models["fit_seconds"].sum()) if models.height else 0.0,
                "skipped": dg.MetadataValue.md("\n".join(skipped) or "none"),
            },
        )
        paths = ", ".join(f"{t}: {n}" for t, n in result.n_paths.items())
        yield dg.Output(
            result.oof,
            output_name="oof",
            metadata={
                "dagster/row_count": result.oof.height,
                "backtest_paths": paths,
                # Only incomplete paths (a skipped fold) can remain here; leaks stopped the step above.
                "audit": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "clean"),
            },
        )

    return train_family


def build_training_assets(config: TrainingConfig) -> list[dg.AssetsDefinition]:
    """The per-family assets of `config.families` and the two combined assets."""
    families = list(config.families)
    per_family = [_family_assets(f) for f in families]

    @dg.asset(
        name="trained_models",
        group_name="training",
        kinds={"parquet"},
        ins={f"m_{f}": dg.AssetIn(key=family_keys(f)[0]) for f in families},
        description="Every family's trained_models/<family> rows in one table.",
    )
    def trained_models(context: dg.AssetExecutionContext, **per_family_models: pl.DataFrame) -> pl.DataFrame:
        frames = [frame for _, frame in sorted(per_family_models.items()) if frame.height]
        combined = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
        if combined.height:
            summary = combined.group_by("family", "variant").agg(
                pl.len().alias("models"), pl.col("fit_seconds").sum().round(2).alias("fit_seconds")
            )
            context.add_output_metadata({"families": markdown_table(summary.sort("family"))})
        return combined

    @dg.asset(
        name="oof_predictions",
        group_name="training",
        kinds={"polars", "parquet"},
        ins={f"o_{f}": dg.AssetIn(key=family_keys(f)[1]) for f in families},
        description="Out-of-fold scores of every family: each sample predicted by the model whose "
        "training folds never saw it (model_id family target fold symbol ts y_true y_score path). "
        "With CPCV each sample has one row per backtest path (path 0.. phi-1); otherwise path = 0.",
    )
    def oof_predictions(**per_family_oof: pl.DataFrame) -> pl.DataFrame:
        frames = [frame for _, frame in sorted(per_family_oof.items())]
        return pl.concat(frames, how="vertical").sort("model_id", "symbol", "ts")

    return [*per_family, trained_models, oof_predictions]
