"""The base of every configuration section: frozen, and unknown keys are errors (typos fail)."""

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
