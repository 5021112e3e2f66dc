"""training: every configured family fitted on every purged fold; out-of-fold predictions."""

import json

import dagster as dg
import polars as pl

from foxml_dagster.training import train_out_of_fold
from resources.home import Experiment, FoxmlHome


@dg.multi_asset(
    group_name="training",
    outs={
        "trained_models": dg.AssetOut(
            kinds={"lightgbm", "scikit-learn", "parquet"},
            description="One row per (family, target, fold): the saved model's path, sizes, timing and parameters.",
        ),
        "oof_predictions": dg.AssetOut(
            kinds={"polars", "parquet"},
            description="Out-of-fold scores: each sample predicted by the model whose training "
            "folds never saw it (model_id family target fold symbol ts y_true y_score).",
        ),
    },
    deps=["leakage_report"],
)
def train_models(
    context: dg.AssetExecutionContext,
    experiment: Experiment,
    home: FoxmlHome,
    training_frame: pl.DataFrame,
    folds: pl.DataFrame,
    selected_features: pl.DataFrame,
):
    cfg = experiment.config.training
    chosen = selected_features.filter(pl.col("selected"))["feature"].to_list()
    result = train_out_of_fold(training_frame, folds, feature_columns=chosen, families=cfg.families, seed=cfg.seed)
    rows = []
    for fitted in result.models:
        path = home.layout.models / fitted.family / fitted.target / f"fold{fitted.fold}.model"
        fitted.model.save(path)
        rows.append(
            {
                "model_id": fitted.model_id,
                "family": fitted.family,
                "target": fitted.target,
                "fold": fitted.fold,
                "path": str(path),
                "n_train": fitted.n_train,
                "n_test": fitted.n_test,
                "fit_seconds": fitted.fit_seconds,
                "params": json.dumps(fitted.model.describe(), sort_keys=True, default=str),
                "features": json.dumps(chosen),
            }
        )
    models = pl.DataFrame(rows)
    skipped = [f"{t} {fam} fold {f}: {why}" for t, fam, f, why in result.skipped]
    yield dg.Output(
        models,
        output_name="trained_models",
        metadata={"models": models.height, "skipped": dg.MetadataValue.md("\n".join(skipped) or "none")},
    )
    yield dg.Output(result.oof, output_name="oof_predictions")
