"""IB's historical-data pacing rules, enforced before a request is sent (used by ibkr.py).

The clock is injectable so tests can check every rule without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from foxml_dagster.data.ibkr import IbkrConfig

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Seconds on a monotonic scale, and a way to wait; tests pass one that only pretends to wait."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class BarRequest:
    """What IB compares when it judges pacing: the contract, the window and the kind of bars."""

    contract: str
    end: str
    duration: str
    bar_size: str
    what_to_show: str
    use_rth: bool


class PacingLimiter:
    """IB's historical-data pacing rules, enforced before a request is sent: at most
    `max_requests` in any `window_seconds`; no identical request within `identical_gap_seconds`;
    at most `max_same_contract` requests for one contract and kind of bars in any
    `same_contract_window_seconds`; and nothing at all until a pacing violation's wait is over."""

    def __init__(
        self,
        *,
        max_requests: int = 60,
        window_seconds: float = 600.0,
        identical_gap_seconds: float = 15.0,
        max_same_contract: int = 5,
        same_contract_window_seconds: float = 2.0,
        clock: Clock | None = None,
    ):
        self.max_requests = max_requests
        self.window_seconds = window_seconds
        self.identical_gap_seconds = identical_gap_seconds
        self.max_same_contract = max_same_contract
        self.same_contract_window_seconds = same_contract_window_seconds
        self.clock = clock or MonotonicClock()
        self._sent: deque[tuple[float, BarRequest]] = deque()
        self._blocked_until = float("-inf")

    @classmethod
    def from_config(cls, settings: IbkrConfig, clock: Clock | None = None) -> PacingLimiter:
        return cls(
            max_requests=settings.max_requests_per_10_minutes,
            window_seconds=600.0,
            identical_gap_seconds=settings.identical_request_gap_seconds,
            max_same_contract=settings.max_requests_per_contract_per_2_seconds,
            same_contract_window_seconds=2.0,
            clock=clock,
        )

    def wait_needed(self, request: BarRequest) -> tuple[float, str]:
        """(seconds to wait before `request` may be sent, the rule that makes it wait)."""
        now = self.clock.now()
        self._forget_before(now - max(self.window_seconds, self.identical_gap_seconds))
        waits = [(self._blocked_until - now, "waiting out a pacing violation")]
        in_window = [t for t, _ in self._sent if t > now - self.window_seconds]
        if len(in_window) >= self.max_requests:
            oldest = in_window[-self.max_requests]
            waits.append(
                (oldest + self.window_seconds - now, f"{self.max_requests} requests per {self.window_seconds:g} s")
            )
        identical = [t for t, r in self._sent if r == request]
        if identical:
            gap = self.identical_gap_seconds
            waits.append((identical[-1] + gap - now, f"no identical request within {gap:g} s"))
        same = [
            t
            for t, r in self._sent
            if (r.contract, r.what_to_show) == (request.contract, request.what_to_show)
            and t > now - self.same_contract_window_seconds
        ]
        if len(same) >= self.max_same_contract:
            oldest = same[-self.max_same_contract]
            waits.append(
                (
                    oldest + self.same_contract_window_seconds - now,
                    f"{self.max_same_contract} requests per contract per {self.same_contract_window_seconds:g} s",
                )
            )
        seconds, rule = max(waits)
        return max(seconds, 0.0), rule

    async def acquire(self, request: BarRequest) -> float:
        """Wait until `request` may go, record it as sent and return the seconds waited."""
        waited = 0.0
        while (need := self.wait_needed(request))[0] > 0:
            log.info("IB pacing: waiting %.1f s (%s)", need[0], need[1])
            await self.clock.sleep(need[0])
            waited += need[0]
        self._sent.append((self.clock.now(), request))
        return waited

    def back_off(self, seconds: float) -> None:
        """After a pacing violation: send nothing for `seconds`."""
        self._blocked_until = max(self._blocked_until, self.clock.now() + seconds)

    def _forget_before(self, horizon: float) -> None:
        while self._sent and self._sent[0][0] <= horizon:
            self._sent.popleft()
