"""Model families. Importing this package registers every built-in family.

Heavy libraries (xgboost, torch, lightning) are imported inside the families' methods, so
importing this package stays cheap for the Dagster code location.
"""

from foxml_dagster.models import (  # noqa: F401 - import registers families
    forest,
    lightgbm_family,
    linear,
    neural,
    xgboost_family,
)
from foxml_dagster.models.lightgbm_family import LightGBMFamily
from foxml_dagster.models.linear import LogisticFamily, RidgeFamily
from foxml_dagster.models.registry import (
    FamilyParams,
    InvalidParams,
    ModelFamily,
    get_family,
    register_family,
    registered_families,
)

__all__ = [
    "FamilyParams",
    "InvalidParams",
    "LightGBMFamily",
    "LogisticFamily",
    "ModelFamily",
    "RidgeFamily",
    "get_family",
    "register_family",
    "registered_families",
]
