"""Production models: the fold's preprocessing and early stopping on every labelled row, nothing
after the cutoff, versioned manifests, live scores of every bar after the cutoff, and the gates."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from foxml_dagster.promotion import GateConfig, decide
from foxml_dagster.signals import signal_lag
from foxml_dagster.training.data import build_panel, carve_validation
from foxml_dagster.training.production import live_panel, predict_live, refit_production, save_production
from foxml_dagster.training.tasks import FitTask, fit_fold
from tests.unit.test_cpcv_training import FEATURES, make_frame

FAMILIES = {"lightgbm": {"n_estimators": 40, "early_stopping_rounds": 5}, "logistic": {}}


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return make_frame(n_bars=160, seed=5)


def _probe(frame: pl.DataFrame) -> np.ndarray:
    return frame.select(FEATURES).to_numpy()[:50]


def _fit(frame, **kwargs):
    return refit_production(frame, feature_columns=FEATURES, families=FAMILIES, seed=1, val_fraction=0.2, **kwargs)


def test_a_production_fit_is_the_folds_fit_on_every_labelled_row(frame):
    result = _fit(frame)
    by_family = {fit.family: fit for fit in result.fits}
    assert result.as_of == frame["t1"].max()
    # The very task a fold runs, given every row: same panel, preprocessing, weights, early stopping.
    panel = build_panel(frame, "tb_h5", FEATURES)
    every = np.arange(len(panel.y))
    lgb = by_family["lightgbm"]
    task = FitTask("lightgbm", lgb.model.params, 1, -1, every, np.zeros(0, np.int64), 0.2)
    direct = fit_fold(panel, task)
    assert direct.model_bytes == lgb.model.to_bytes()
    fit_rows, val_rows = carve_validation(panel.ts, panel.t1, every, 0.2)
    assert (lgb.n_fit, lgb.n_val) == (len(fit_rows), len(val_rows)) and lgb.n_val > 0
    # The validation slice is the end of the timeline, purged by label span: no fitting label reaches it.
    assert panel.t1[fit_rows].max() < panel.ts[val_rows].min()
    assert by_family["logistic"].n_val == 0 and by_family["logistic"].n_fit == lgb.n_train == frame.height
    assert lgb.train_end == frame["ts"].max() and lgb.knowledge_end == frame["t1"].max()


def test_a_lazy_scan_of_the_stored_frame_refits_exactly_as_the_frame_in_memory(frame, tmp_path):
    path = tmp_path / "training_frame.parquet"
    frame.write_parquet(path)
    cutoff = frame["ts"].min() + timedelta(days=100)
    in_memory, scanned = _fit(frame, as_of=cutoff), _fit(pl.scan_parquet(path), as_of=cutoff)
    assert [f.model.to_bytes() for f in scanned.fits] == [f.model.to_bytes() for f in in_memory.fits]
    assert [(f.data_hash, f.n_train, f.knowledge_end) for f in scanned.fits] == [
        (f.data_hash, f.n_train, f.knowledge_end) for f in in_memory.fits
    ]


def test_no_production_model_sees_a_row_after_its_cutoff(frame):
    cutoff = frame["ts"].min() + timedelta(days=100)
    honest = _fit(frame, as_of=cutoff)
    assert all(fit.knowledge_end <= cutoff for fit in honest.fits)
    assert honest.fits[0].n_train == frame.filter(pl.col("t1") <= cutoff).height
    # Plant a future: every row whose outcome is not known at the cutoff gets other features,
    # flipped labels and weights, and rows are appended beyond the end of the data.
    later = pl.col("t1") > cutoff
    n_later = frame.filter(later).height
    future = frame.with_columns(
        pl.when(later).then(pl.col(f) * 3 + 1).otherwise(pl.col(f)).alias(f) for f in FEATURES
    ).with_columns(
        pl.when(later).then(-pl.col("label")).otherwise(pl.col("label")).alias("label"),
        pl.when(later).then(pl.lit(5.0)).otherwise(pl.col("weight")).alias("weight"),
    )
    extra = frame.tail(30).with_columns(pl.col("ts") + timedelta(days=400), pl.col("t1") + timedelta(days=400))
    changed = _fit(pl.concat([future, extra]), as_of=cutoff)
    probe = _probe(frame)
    assert n_later > 0
    for a, b in zip(honest.fits, changed.fits, strict=True):
        assert a.model.to_bytes() == b.model.to_bytes(), a.family
        np.testing.assert_array_equal(a.model.predict_score(probe), b.model.predict_score(probe))
    # The probe has teeth: change one row known at the cutoff and the models move.
    first = pl.col("ts") == frame["ts"].min()
    tampered = frame.with_columns(pl.when(first).then(-pl.col("label")).otherwise(pl.col("label")).alias("label"))
    moved = _fit(tampered, as_of=cutoff)
    assert any(a.model.to_bytes() != b.model.to_bytes() for a, b in zip(honest.fits, moved.fits, strict=True))


def test_versions_are_content_hashes_with_a_manifest_that_names_the_cutoff(frame, tmp_path):
    result = _fit(frame)
    rows = save_production(result, tmp_path, seed=1, feature_columns=FEATURES, val_fraction=0.2)
    again = save_production(_fit(frame), tmp_path, seed=1, feature_columns=FEATURES, val_fraction=0.2)
    assert [r["version"] for r in rows] == [r["version"] for r in again]  # same inputs, same version
    newer = save_production(
        _fit(frame, as_of=frame["t1"].max() - timedelta(days=10)),
        tmp_path,
        seed=1,
        feature_columns=FEATURES,
        val_fraction=0.2,
    )
    assert not {r["version"] for r in rows} & {r["version"] for r in newer}  # other data, other version
    for row in rows:
        manifest = json.loads((tmp_path / row["family"] / "tb_h5" / row["version"] / "manifest.json").read_text())
        assert manifest["data_hash"] == row["data_hash"] and manifest["features"] == FEATURES
        assert manifest["knowledge_end"].startswith(str(frame["t1"].max())[:10]) and manifest["n_train"] == frame.height


def test_live_predictions_score_every_bar_after_the_cutoff_up_to_the_newest(frame):
    cutoff = frame["t1"].max() - timedelta(days=20)
    result = _fit(frame, as_of=cutoff)
    features = frame.select("symbol", "ts", *FEATURES)
    warming = (
        features.filter(pl.col("ts") == features["ts"].max())
        .head(1)
        .with_columns(pl.lit(None, pl.Float64).alias(FEATURES[0]))
    )
    panel = live_panel(
        pl.concat([features.join(warming.select("symbol", "ts"), on=["symbol", "ts"], how="anti"), warming]),
        None,
        FEATURES,
    )
    for fit in result.fits:
        live = predict_live(fit.model, panel, FEATURES, after=fit.train_end)
        expected = panel.filter(pl.col("ts") > fit.train_end)
        assert live.select("symbol", "ts").equals(expected.select("symbol", "ts"))
        assert live["ts"].max() == frame["ts"].max() and live["ts"].min() > fit.train_end
        # The bar whose features are still warming up is skipped, not filled.
        assert live.join(warming, on=["symbol", "ts"]).is_empty()
        # The same model on the same rows (a BLAS may round a batch differently in the last bit).
        np.testing.assert_allclose(
            live["y_score"].to_numpy(), fit.model.predict_score(expected.select(FEATURES).to_numpy()), rtol=1e-12
        )
    with pytest.raises(ValueError, match="missing"):
        live_panel(features.drop(FEATURES[1]), None, FEATURES)


def test_gates_promote_on_out_of_fold_evidence_and_say_why():
    ranking = pl.DataFrame(
        {
            "family": ["a", "b", "c"],
            "target": ["t"] * 3,
            "auc": [0.55, 0.56, None],
            "auc_lo": [0.51, 0.49, None],
            "ic": [0.04, -0.01, 0.02],
            "ic_tstat": [2.5, 3.0, 1.5],
            "dsr": [0.97, 0.99, 0.96],
        }
    )
    decided = decide(ranking, GateConfig(auc_above=0.5, ic_above=0.0, ic_tstat_above=2.0, dsr_above=0.95))
    assert decided["promoted"].to_list() == [True, False, False]
    assert decided["reason"][0] == "promoted: auc 0.5500 > 0.5; ic 0.0400 > 0; ic_tstat 2.5000 > 2; dsr 0.9700 > 0.95"
    assert decided["reason"][1].startswith("refused: ic -0.0100 <= 0 (passed: auc 0.5600 > 0.5;")
    assert "auc unknown (gate auc_above 0.5)" in decided["reason"][2] and "ic_tstat 1.5000 <= 2" in decided["reason"][2]
    off = decide(ranking, GateConfig(auc_above=None, ic_above=None, ic_tstat_above=None))
    assert off["promoted"].all() and off["reason"][0] == "promoted: every gate is off"
    lower = decide(ranking, GateConfig(auc_above=None, ic_above=None, ic_tstat_above=None, auc_lower_above=0.5))
    assert lower["promoted"].to_list() == [True, False, False]


def test_the_signal_is_current_only_when_no_bar_is_newer(frame):
    bars = frame.select("symbol", "ts").unique()
    newest = bars["ts"].max()
    now = signal_lag(bars.filter(pl.col("ts") == newest), bars)
    assert now.current and now.bars_behind == 0 and "newest bar" in now.describe()
    stale = signal_lag(bars.filter(pl.col("ts") == newest - timedelta(days=2)), bars)
    assert not stale.current and stale.bars_behind == 2 and "2 bar(s) behind" in stale.describe()
    assert not signal_lag(bars.head(0), bars).current
