"""Where training tasks run: the runners live in `foxml_dagster.runner`, shared by every stage
that fans out; this name stays for the code and notebooks that import them from here."""

from foxml_dagster.runner import Call, InProcessRunner, RayRunner, Runner

__all__ = ["Call", "InProcessRunner", "RayRunner", "Runner"]
