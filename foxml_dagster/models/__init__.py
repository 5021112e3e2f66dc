"""Model families. Importing this package registers every built-in family."""

from foxml_dagster.models import lightgbm_family, linear  # noqa: F401 - import registers families
from foxml_dagster.models.lightgbm_family import LightGBMFamily
from foxml_dagster.models.linear import LogisticFamily
from foxml_dagster.models.registry import (
    ModelFamily,
    get_family,
    register_family,
    registered_families,
)

__all__ = [
    "LightGBMFamily",
    "LogisticFamily",
    "ModelFamily",
    "get_family",
    "register_family",
    "registered_families",
]
