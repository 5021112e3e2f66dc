"""Meta-labeling: a primary model picks the side, a secondary model sizes it (AFML ch. 3, 10).

The primary here is the momentum rule the labels use for meta-labels (the sign of the past
`lookback`-bar log return, known at the bar). The secondary is the source's probability,
read as the probability that the primary's trade makes money:

- for a meta-label target (labels.triple_barrier.side: momentum, targets `meta_*`) the model
  was trained on exactly that question, so P(correct) = p;
- for a directional target p = P(up), so P(correct) = p when the side is long and 1 - p when it
  is short.

The size is the AFML bet size of P(correct) (bet_size.bet_size) when P(correct) > 1/2, else 0:
the secondary only ever declines or shrinks the primary's trade, never flips it. Rounded to
`step`; weight = side x size. Worked example: side -1 (the past month fell), p(up) = 0.3 on a
directional target: P(correct) = 0.7, size 0.337, rounded to 0.3 with step 0.1: weight -0.3.
"""

from __future__ import annotations

import numpy as np

from foxml_dagster.sizing.bet_size import bet_size, discretize

__all__ = ["meta_label_weights"]


def meta_label_weights(p: np.ndarray, side: np.ndarray, *, is_meta: bool, step: float) -> np.ndarray:
    """side x discretised bet size of P(primary correct); 0 where the side is 0 or unknown."""
    p = np.asarray(p, dtype=np.float64)
    side = np.nan_to_num(np.asarray(side, dtype=np.float64), nan=0.0)
    correct = p if is_meta else np.where(side > 0, p, 1.0 - p)
    size = np.where(correct > 0.5, bet_size(correct), 0.0)
    return side * discretize(size, step)
