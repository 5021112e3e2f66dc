"""Causal features: a declarative registry, named feature sets, and the panel computation."""

from foxml_dagster.features.compute import compute_features
from foxml_dagster.features.registry import FeatureSpec, feature_set, feature_sets, register_feature

__all__ = ["FeatureSpec", "compute_features", "feature_set", "feature_sets", "register_feature"]
