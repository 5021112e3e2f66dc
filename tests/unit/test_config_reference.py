"""docs/reference.md and docs/experiment.schema.json are generated from the config models and
must match them: a field added to a model without `make docs` fails here."""

from __future__ import annotations

import importlib.util
import json
import re

import jsonschema
import yaml

from foxml_dagster.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "config_reference.py"


def _generator():
    spec = importlib.util.spec_from_file_location("config_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _as_json(document):
    return json.loads(json.dumps(document, default=str))  # YAML dates are text to an editor


def test_the_committed_reference_and_schema_match_the_models():
    generator = _generator()
    assert generator.REFERENCE.read_text() == generator.reference(), "run `make docs`"
    assert generator.SCHEMA.read_text() == generator.schema(), "run `make docs`"


def test_the_reference_lists_every_field_of_every_section():
    from foxml_dagster.config import ExperimentConfig

    text = _generator().reference()
    for section, info in ExperimentConfig.model_fields.items():
        for field in info.annotation.model_fields:
            assert f"| `{section}.{field}` |" in text, f"{section}.{field}"
    assert "| `training.families.lightgbm.n_estimators` |" in text


def test_every_field_of_the_reference_has_a_description():
    """A field whose row has no description fails here: give it Field(description=...)."""
    empty = []
    rows = [line for line in _generator().reference().splitlines() if line.startswith("| `")]
    for row in rows:
        cells = re.split(r"(?<!\\)\|", row)[1:-1]  # field, type, default, description; "\|" is text
        assert len(cells) == 4, row
        if not cells[3].strip():
            empty.append(cells[0].strip())
    assert len(rows) > 300
    assert not empty, f"fields without a description: {', '.join(empty)}"


def test_the_schema_accepts_the_shipped_experiments_and_rejects_typos():
    schema = json.loads(_generator().schema())
    for path in (REPO_ROOT / "configs" / "experiment.yaml", REPO_ROOT / "tests" / "experiments" / "small.yaml"):
        jsonschema.validate(_as_json(yaml.safe_load(path.read_text())), schema)
    typo = yaml.safe_load((REPO_ROOT / "configs" / "experiment.yaml").read_text())
    typo["splits"]["n_foldz"] = 3
    family_typo = yaml.safe_load((REPO_ROOT / "configs" / "experiment.yaml").read_text())
    family_typo["training"]["families"]["lightgbm"]["n_estimatorz"] = 3
    for bad in (typo, family_typo):
        try:
            jsonschema.validate(_as_json(bad), schema)
        except jsonschema.ValidationError as exc:
            assert "was unexpected" in exc.message
        else:
            raise AssertionError(f"schema accepted a typo: {bad}")
