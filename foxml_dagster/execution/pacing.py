"""A broker's request limit, kept before a request is sent rather than learned from a refusal.

Alpaca allows 200 REST requests a minute per account and answers 429 past it; a cycle that
rebalances a few hundred symbols (submit, then status and fills) would cross it. `RateLimiter`
holds the requests to at most `max_calls` in any `per_seconds` window, waiting as needed.

(The data side's `foxml_dagster.data.ibkr_pacing.PacingLimiter` encodes IB's historical-data
rules, identical-request gaps and per-contract bursts, on an asyncio clock; order traffic has
one plain rule, and IB's 50-messages-a-second limit on it is ib_async's own throttle, which the
IBKR adapter sets from `execution.ibkr.messages_per_second`.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["RateLimiter"]

log = logging.getLogger(__name__)


class RateLimiter:
    """At most `max_calls` acquisitions in any `per_seconds` sliding window. Thread-safe (the
    trade-update stream and the cycle share one Alpaca account). `clock` and `sleep` are
    injectable so tests check the rule without waiting."""

    def __init__(
        self,
        max_calls: int,
        per_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if max_calls < 1 or per_seconds <= 0:
            raise ValueError(f"a rate limit needs max_calls >= 1 and per_seconds > 0, got {max_calls}/{per_seconds}")
        self.max_calls = max_calls
        self.per_seconds = per_seconds
        self.clock = clock
        self.sleep = sleep
        self.waited = 0.0  # seconds spent waiting, in total (reported in the run's metadata)
        self._sent: deque[float] = deque()
        self._blocked_until = float("-inf")
        self._lock = threading.Lock()

    def wait_needed(self) -> float:
        """Seconds until one more request may go."""
        now = self.clock()
        while self._sent and self._sent[0] <= now - self.per_seconds:
            self._sent.popleft()
        waits = [self._blocked_until - now]
        if len(self._sent) >= self.max_calls:
            waits.append(self._sent[-self.max_calls] + self.per_seconds - now)
        return max(0.0, *waits)

    def acquire(self) -> float:
        """Waits until a request may be sent, records it, and returns the seconds waited."""
        waited = 0.0
        with self._lock:
            while (need := self.wait_needed()) > 0:
                log.info("rate limit: waiting %.2f s (%d requests per %g s)", need, self.max_calls, self.per_seconds)
                self.sleep(need)
                waited += need
            self._sent.append(self.clock())
            self.waited += waited
        return waited

    def back_off(self, seconds: float) -> None:
        """After the broker said 429 anyway (another program on the same account): send nothing
        for `seconds`."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)
