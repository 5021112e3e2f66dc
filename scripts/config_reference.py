"""Generate docs/reference.md and docs/experiment.schema.json from the experiment's pydantic models.

Every field of `ExperimentConfig` (and of each registered model family's `Params`) is listed
with its YAML path, type, default and description. The description is the field's own
(`Field(description=...)`), else the comment on its line or the comment lines just above it in
the source, so the models stay the one place a setting is explained.

    python scripts/config_reference.py           # write both files
    python scripts/config_reference.py --check   # exit 1 if either is out of date (the tests run this)
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
import typing
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference.md"
SCHEMA = ROOT / "docs" / "experiment.schema.json"

_FIELD_LINE = re.compile(r"^\s+(\w+)\s*:")


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comment on its line, or the block of comment lines just above it."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            lines = inspect.getsource(cls).splitlines()
        except (OSError, TypeError):
            continue
        above: list[str] = []
        for line in lines:
            stripped = line.strip()
            if stripped.startswith("#"):
                above.append(stripped.lstrip("#:").strip())
                continue
            match = _FIELD_LINE.match(line)
            if match and match.group(1) in cls.__dict__.get("__annotations__", {}):
                trailing = line.split("  # ", 1)[1].strip() if "  # " in line else ""
                text = " ".join(part for part in (*above, trailing) if part)
                if text:
                    found[match.group(1)] = text
            above = []
    return found


def _type_name(annotation) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType) and all(
        isinstance(a, type) and issubclass(a, BaseModel) for a in args
    ):
        return " \\| ".join(a.__name__ for a in args)  # a choice of sections (a discriminated union)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_name(a) for a in args)
    if origin in (list, tuple, set):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}" if args else "mapping"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type):
        return "section" if issubclass(annotation, BaseModel) else annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        try:
            value = info.default_factory()
        except TypeError:  # a factory that needs the validated data
            return "(computed)"
    elif info.default is PydanticUndefined:
        return "(required)"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(section)"
    text = json.dumps(value, default=str)
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}...`"


def _submodel(annotation) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    """(path, type, default, description) for every field, depth first."""
    notes = _comments(model)
    rows = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        about = (info.description or notes.get(name, "")).replace("|", "\\|").replace("\n", " ")
        sub = _submodel(info.annotation)
        if sub is not None:
            rows.append((path, "section", "", about or (sub.__doc__ or "").strip().split("\n")[0]))
            rows += _rows(sub, f"{path}.")
        else:
            rows.append((path, _type_name(info.annotation), _default(info), about))
    return rows


def _table(rows) -> list[str]:
    lines = ["| field | type | default | description |", "|---|---|---|---|"]
    lines += [f"| `{path}` | {kind} | {default} | {about} |" for path, kind, default, about in rows]
    return lines


def _families() -> dict[str, type[BaseModel]]:
    from foxml_dagster.models import get_family, registered_families

    classes = {name: get_family(name) for name in registered_families()}
    return {name: cls.Params for name, cls in classes.items() if getattr(cls, "Params", None) is not None}


def reference() -> str:
    from foxml_dagster.config import ExperimentConfig
    from resources.home import OVERRIDABLE

    sections = []
    for name, info in ExperimentConfig.model_fields.items():
        sub = _submodel(info.annotation)
        doc = (sub.__doc__ or "").strip() if sub is not None else ""
        sections += [f"## `{name}`", "", *([doc, ""] if doc else []), *_table(_rows(sub, f"{name}.")), ""]
    families = []
    for family, params in _families().items():
        families += [
            f"### `{family}`",
            "",
            *_table([(f"training.families.{family}.{p}", k, d, a) for p, k, d, a in _rows(params, "")]),
            "",
        ]
    return (
        "\n".join(
            [
                "# Experiment reference",
                "",
                "<!-- Generated by scripts/config_reference.py from the pydantic models; do not edit by hand. -->",
                "",
                "Every field of the experiment file (`configs/experiment.yaml`, or the file `FOXML_CONFIG` /",
                "`foxml --config` names), with its type and default. Unknown keys are errors, and a wrong value",
                "stops the code location at load with the file and field named; `foxml validate` lists every",
                "error at once. Editors that read JSON Schema (VS Code's YAML extension, PyCharm) can check and",
                "complete the file against [experiment.schema.json](experiment.schema.json): add",
                "`# yaml-language-server: $schema=../docs/experiment.schema.json` as its first line.",
                "",
                "Fields a single run may override without editing the file (the launchpad's",
                "`resources.experiment.config.overrides`, or `foxml run --set FIELD=VALUE`):",
                ", ".join(f"`{f}`" for f in OVERRIDABLE) + ".",
                "",
                *sections,
                "## Model family parameters",
                "",
                "Under `training.families.<family>`: `variant` (a variant of `configs/models/<family>.yaml`),",
                "`resources` (Ray task resources), and the family's own parameters below.",
                "",
                *families,
            ]
        ).rstrip()
        + "\n"
    )


def schema() -> str:
    from foxml_dagster.config import ExperimentConfig

    document = ExperimentConfig.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "foxml-dagster experiment"
    # training.families: each registered family's parameter schema, plus the two reserved keys.
    families = {}
    for family, params in _families().items():
        body = params.model_json_schema()
        body.setdefault("properties", {}).update(
            variant={"type": "string", "description": f"a variant of configs/models/{family}.yaml"},
            resources={"type": "object", "description": "Ray task resources (num_cpus, num_gpus)"},
        )
        for nested in body.pop("$defs", {}).items():
            document.setdefault("$defs", {})[nested[0]] = nested[1]
        families[family] = body
    training = document["$defs"]["TrainingConfig"]["properties"]["families"]
    training["properties"] = families
    training["additionalProperties"] = False
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args()
    stale = []
    for path, text in ((REFERENCE, reference()), (SCHEMA, schema())):
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        print(f"{names} out of date; run `make docs` (python scripts/config_reference.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
