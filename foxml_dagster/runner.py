"""Where heavy tasks run: in this process, or as Ray tasks (a local Ray or a cluster).

Every stage that fans out (training per family and fold, features per symbol batch, the leakage
look-ahead probes, permutation importance per target and fold) takes a runner and has one code
path for both, which is why both give identical results:

- `put(obj)`: share a large input once; tasks receive the object (here) or a Ray reference that
  Ray resolves to it on whichever node runs the task.
- `map(fn, calls)`: every call's result, in call order.
- `imap(fn, calls, window=n)`: the same as an iterator with at most `n` calls in flight, so a
  consumer that writes each result out (features into the lake) holds a bounded number of them.
  In-process, a call runs only when its result is asked for, exactly like a plain loop.

The library never imports Ray: `RayRunner` imports it inside its methods, and the resource that
connects to Ray lives in the Dagster layer (resources/ray.py). `fn` must be a module-level
function (Ray ships it by reference, so workers import it from this package) or picklable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

__all__ = ["Call", "InProcessRunner", "RayRunner", "Runner"]


@dataclass(frozen=True)
class Call:
    """One task: positional args, and what it asks the scheduler for."""

    args: tuple
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory_mb: float | None = None
    name: str = "task"


class InProcessRunner:
    """Runs each call in order, here. What you get with Ray disabled, and the library default."""

    name = "in-process"

    def put(self, obj: Any) -> Any:
        return obj

    def map(self, fn: Callable, calls: Sequence[Call]) -> list:
        return [fn(*call.args) for call in calls]

    def imap(self, fn: Callable, calls: Iterable[Call], *, window: int | None = None) -> Iterator:
        # Lazy on purpose: the next call runs only when the consumer is done with the last result.
        for call in calls:
            yield fn(*call.args)


class Runner(Protocol):
    """What a fanning-out function takes: `InProcessRunner`, `RayRunner`, or your own."""

    name: str

    def put(self, obj: Any) -> Any: ...

    def map(self, fn: Callable, calls: Sequence[Call]) -> list: ...

    def imap(self, fn: Callable, calls: Iterable[Call], *, window: int | None = None) -> Iterator: ...


class RayRunner:
    """One Ray task per call, with the call's CPU/GPU/memory request; results in call order.

    The caller (resources/ray.py) has already connected to Ray. A task that fails raises here
    with the task's name, so the error says which family and fold, symbol batch or probe broke.
    `placements` records, per finished task, its name and the id of the Ray node that ran it.

    Where the time goes on a small machine: a fresh worker pays its imports once (about 1 s for
    this package, 3 s for scikit-learn/LightGBM, 8-10 s for torch + Lightning), so workers must be
    reused across tasks and fan-outs (see `_submit`); a shared input is `put` once by the caller
    and every task gets the reference, not a copy.
    """

    name = "ray"
    #: fn -> its remote version, so a second fan-out in this process does not export fn again.
    _remotes: ClassVar[dict[Callable, Any]] = {}

    def __init__(self) -> None:
        self.placements: list[tuple[str, str]] = []

    def put(self, obj: Any) -> Any:
        import ray

        return ray.put(obj)

    def map(self, fn: Callable, calls: Sequence[Call]) -> list:
        refs = [self._submit(fn, call) for call in calls]
        return [self._result(call, ref) for call, ref in zip(calls, refs, strict=True)]

    def imap(self, fn: Callable, calls: Iterable[Call], *, window: int | None = None) -> Iterator:
        """Results in call order, keeping at most `window` tasks submitted and not yet consumed
        (default: twice the cluster's CPUs, so every CPU has a next task waiting)."""
        if window is None:
            import ray

            window = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        pending: deque = deque()
        for call in calls:
            pending.append((call, self._submit(fn, call)))
            if len(pending) >= window:
                yield self._result(*pending.popleft())
        while pending:
            yield self._result(*pending.popleft())

    def _submit(self, fn: Callable, call: Call):
        import ray

        remote = self._remotes.get(fn)
        if remote is None:
            remote = self._remotes[fn] = ray.remote(_placed(fn))
        options: dict[str, Any] = {"num_cpus": call.num_cpus, "num_gpus": call.num_gpus, "name": call.name}
        if call.memory_mb:
            # Ray's logical memory: the scheduler never packs more tasks on a node than fit.
            options["memory"] = int(call.memory_mb * 2**20)
        # Workers are reused across tasks and fan-outs. GPU tasks too: Ray's fresh worker per GPU
        # task applies only to num_gpus given in @ray.remote, not in .options(), and a fresh worker
        # would re-import torch and Lightning (8-10 s) for every fold; fit_fold empties the CUDA
        # cache instead, so a reused worker holds no GPU memory between tasks.
        # A worker killed by the OS (out of memory) is retried once, as the budget promises.
        # SPREAD: a fan-out's tasks share arguments the driver put in its own node's object
        # store, and Ray's default placement follows the data, which piles every task onto the
        # driver's node while other nodes idle. Spreading copies the arguments once per node.
        return remote.options(max_retries=1, scheduling_strategy="SPREAD", **options).remote(*call.args)

    def _result(self, call: Call, ref) -> Any:
        import ray

        try:
            node, result = ray.get(ref)
        except Exception as exc:
            raise RuntimeError(f"Ray task {call.name} failed: {exc}") from exc
        self.placements.append((call.name, node))
        return result


def _placed(fn: Callable) -> Callable:
    """`fn` returning (id of the node it ran on, its result): where each task ran is then known
    to the caller (asset metadata, the multi-node test) without touching the result itself."""

    def run(*args):
        import ray

        return ray.get_runtime_context().get_node_id(), fn(*args)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "task")
    return run
