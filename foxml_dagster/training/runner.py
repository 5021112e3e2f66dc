"""Where training tasks run: in this process, or as Ray tasks (local or on a cluster).

Both runners share one interface, `put(obj)` (share a large input once) and `map(fn, calls)`,
so `train_out_of_fold` has a single code path. Ray is imported only by `RayRunner`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Call", "InProcessRunner", "RayRunner"]


@dataclass(frozen=True)
class Call:
    """One task: positional args, and what it asks the scheduler for."""

    args: tuple
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: float | None = None
    name: str = "task"


class InProcessRunner:
    """Runs each call in order, here. What you get with Ray disabled."""

    name = "in-process"

    def put(self, obj: Any) -> Any:
        return obj

    def map(self, fn: Callable, calls: Sequence[Call]) -> list:
        return [fn(*call.args) for call in calls]


class RayRunner:
    """One Ray task per call, with the call's CPU/GPU/memory request; results in call order.

    The caller (resources/ray.py) has already connected to Ray. A task that fails raises here
    with the task's name, so the error says which family and fold broke.

    Where the time goes on a small machine: a fresh worker pays its imports once (about 1 s for
    this package, 3 s for scikit-learn/LightGBM, 8-10 s for torch + Lightning), so workers must be
    reused across tasks and fan-outs (see `map`); the shared panel is `put` once by the caller and
    every task gets the reference, not a copy.
    """

    name = "ray"
    #: fn -> its remote version, so a second fan-out in this process does not export fn again.
    _remotes: ClassVar[dict[Callable, Any]] = {}

    def put(self, obj: Any) -> Any:
        import ray

        return ray.put(obj)

    def map(self, fn: Callable, calls: Sequence[Call]) -> list:
        import ray

        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._remotes[fn] = ray.remote(fn)
        refs = []
        for call in calls:
            options: dict[str, Any] = {"num_cpus": call.num_cpus, "num_gpus": call.num_gpus, "name": call.name}
            if call.memory_mb:
                # Ray's logical memory: the scheduler never packs more tasks on a node than fit.
                options["memory"] = int(call.memory_mb * 2**20)
            # Workers are reused across tasks and fan-outs. GPU tasks too: Ray's fresh worker per
            # GPU task applies only to num_gpus given in @ray.remote, not in .options(), and a fresh
            # worker would re-import torch and Lightning (8-10 s) for every fold; fit_fold empties
            # the CUDA cache instead, so a reused worker holds no GPU memory between tasks.
            # A worker killed by the OS (out of memory) is retried once, as the budget promises.
            refs.append(remote.options(max_retries=1, **options).remote(*call.args))
        results = []
        for call, ref in zip(calls, refs, strict=True):
            try:
                results.append(ray.get(ref))
            except Exception as exc:
                raise RuntimeError(f"training task {call.name} failed on Ray: {exc}") from exc
        return results
