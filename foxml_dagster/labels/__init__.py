"""Labels: triple-barrier and meta-labels, forward returns, CUSUM event sampling, sample weights.

See `make` for the output contract, `config` for the settings and `weights` for the weighting
schemes. The first-touch search and the CUSUM filter run in Rust (`foxml_dagster.native`).
"""

from foxml_dagster.labels.config import (
    EventsConfig,
    ForwardReturnsConfig,
    LabelsConfig,
    TripleBarrierConfig,
    WeightsConfig,
)
from foxml_dagster.labels.make import (
    LABEL_SCHEMA,
    forward_return_target,
    make_labels,
    momentum_side,
    triple_barrier_target,
)
from foxml_dagster.labels.weights import average_uniqueness, return_attribution, time_decay

__all__ = [
    "LABEL_SCHEMA",
    "EventsConfig",
    "ForwardReturnsConfig",
    "LabelsConfig",
    "TripleBarrierConfig",
    "WeightsConfig",
    "average_uniqueness",
    "forward_return_target",
    "make_labels",
    "momentum_side",
    "return_attribution",
    "time_decay",
    "triple_barrier_target",
]
