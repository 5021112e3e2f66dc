"""What the UI shows for every asset, and the typed metadata helpers behind asset pages."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import dagster as dg
import polars as pl

from assets.metadata import column_schema, describe_column, plots_markdown, rounded, table


def test_every_asset_has_owners_kinds_code_references_and_a_description(small_experiment):
    from foxml_dagster.definitions import build_definitions
    from jobs.pipeline import AUTOMATED, FRESH_DAILY

    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node, name = graph.get(key), key.to_user_string()
        assert node.owners and all(o.startswith("team:") for o in node.owners), name
        assert "duckdb" in node.kinds and len(node.kinds) >= 2, name
        assert "dagster/code_references" in node.metadata, name
        assert node.description and not re.search(r"\{[a-z_]+\}", node.description), name  # no bare {family}
        assert (node.freshness_policy is not None) == (name in FRESH_DAILY), name
        assert (node.automation_condition is not None) == (name in AUTOMATED), name
    assert "ray" in graph.get(dg.AssetKey(["trained_models", "lightgbm"])).kinds
    # `<name>_<params>` is code in the description, not an HTML tag the UI would swallow.
    assert "`<name>_<params>`" in graph.get(dg.AssetKey("features")).description


def test_the_launchpad_shows_no_storage_plumbing_and_offers_the_experiment_overrides(small_experiment):
    from foxml_dagster.definitions import build_definitions

    job = build_definitions().resolve_job_def("all_symbols")
    resources = job.run_config_schema.config_type.fields["resources"].config_type.fields
    for bound in ("io_manager", "home"):  # bound in code: no fields to fill in or scaffold
        assert type(resources[bound].config_type.fields["config"].config_type).__name__ == "Any", bound
    overrides = resources["experiment"].config_type.fields["config"].config_type.fields["overrides"]
    assert {"splits", "data", "training"} <= set(overrides.config_type.fields)
    assert job.tags["foxml/symbols"] == "all"


def test_column_schema_describes_known_columns_features_and_benchmark_twins():
    schema = column_schema({"symbol": pl.String, "rsi_14": pl.Float64, "benchmark_sharpe": pl.Float64, "x": pl.Int8})
    about = {column.name: column.description for column in schema.columns}
    assert about["symbol"].startswith("Instrument identifier")
    assert "relative strength" in about["rsi_14"].lower()
    assert about["benchmark_sharpe"] == "Benchmark: annualised Sharpe ratio."
    assert about["x"] is None
    assert [column.type for column in schema.columns] == ["string", "float64", "float64", "int8"]
    assert describe_column("benchmark_cagr") == "Benchmark: Compound annual growth rate."


def test_generated_column_names_are_described_from_their_feature_or_metric_and_target():
    features = {"rsi_14": "Wilder's relative strength index over 14 bars", "ret_log_20": "log return over 20 bars"}
    rank, z = describe_column("xs_rank_rsi_14", features), describe_column("xs_z_rsi_14", features)
    relative = describe_column("rel_ret_log_20", features)
    assert "percentile rank" in rank.lower() and "across symbols" in rank and "rsi_14 (Wilder's" in rank
    assert "z-score" in z.lower() and "rsi_14 (Wilder's" in z
    assert relative.startswith("ret_log_20 (log return over 20 bars) minus its mean across symbols")
    assert describe_column("xs_rank_unknown", features) == ""  # only registered features
    stability = describe_column("stability__tb_h10")
    assert stability.startswith(describe_column("stability").removesuffix(".")) and "target tb_h10" in stability
    assert "target fwd_ret_5" in describe_column("clustered_mda__fwd_ret_5")
    assert describe_column("no_such_metric__tb_h10") == ""
    # Through column_schema, the registry's features name the cross-sectional columns' bases.
    schema = column_schema({"xs_rank_rsi_14": pl.Float64, "rank__tb_h10": pl.Float64})
    about = {column.name: column.description for column in schema.columns}
    assert "relative strength" in about["xs_rank_rsi_14"].lower()
    assert about["rank__tb_h10"].endswith("target tb_h10 only.")


def test_table_metadata_is_typed_rounded_and_serializable():
    frame = pl.DataFrame(
        {
            "family": ["lightgbm", "logistic"],
            "auc": [0.5608643332421281, None],
            "ts": [datetime(2024, 1, 2, tzinfo=UTC)] * 2,
            "tags": [["a"], ["b", "c"]],
        }
    )
    value = table(frame)
    assert isinstance(value, dg.TableMetadataValue)
    assert value.records[0].data["auc"] == 0.5609 and value.records[1].data["auc"] is None
    assert value.records[0].data["ts"].startswith("2024-01-02")
    assert [c.name for c in value.schema.columns] == ["family", "auc", "ts", "tags"]
    assert len(table(pl.DataFrame({"n": range(80)}), max_rows=50).records) == 50


def test_numbers_are_rounded_for_display_and_plots_become_data_uri_images():
    assert rounded({"sharpe": 1.5608643332421281, "n": 3, "nan": float("nan")})["sharpe"] == 1.5609
    png = b"\x89PNG-bytes"
    text = plots_markdown({"equity": png}, {"equity": "Equity curve"}).value
    assert "**Equity curve**" in text
    assert f"![equity](data:image/png;base64,{base64.b64encode(png).decode()})" in text
