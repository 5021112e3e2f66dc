"""Ray as a Dagster resource: where the (family, fold) training tasks and the heavy stages run.

- Local by default: the first training step that needs Ray starts a private local instance
  (`ray.init` with no dashboard), so nothing has to be started by hand. It is shut down when
  the resource is torn down (at the end of the run with the in-process executor, of the step
  otherwise): forked step processes end without running exit hooks, so Ray's own would not.
- A cluster: set `RAY_ADDRESS` (e.g. `ray://head:10001` or `auto`), or the resource's `address`.
- Disabled (`FOXML_RAY=0` or `enabled=False`): the same tasks run in-process, in order.

The heavy stages besides training (features per symbol batch, the leakage look-ahead probes,
permutation importance per target and fold) take `stage_runner()`: Ray only when a cluster is
configured (`address` / `RAY_ADDRESS`), or when `stages` (`FOXML_RAY_STAGES=1`) asks for it. On
one machine they stay in-process: a local Ray would cost each step ~5 s and ~1 GB to start and a
copy of its inputs in the object store, for no more cores than polars and the kernels already use.

If this process is already connected to Ray (a test session, a notebook), that connection is
used as it is.

Network exposure of the local instance: it listens on 127.0.0.1 only. Ray binds its GCS, raylet,
worker and runtime-env servers to the node's IP, which it takes as the machine's routable address
(an explicit `_node_ip_address="127.0.0.1"` is rewritten to it), except in the single-machine mode
it uses on macOS and Windows, where the node IP is the loopback. That mode is switched on for a
local instance (`local_only_ray`), so nothing of it is reachable from another machine; a cluster
(`address`) is left as configured. Token authentication (on by default, ~/.ray/auth_token) guards
it besides. The dashboard, which would serve HTTP, is not started.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import dagster as dg
from pydantic import Field, PrivateAttr

from foxml_dagster.runner import InProcessRunner, RayRunner

_OFF = ("0", "false", "off", "no")


def _env_enabled() -> bool:
    return os.environ.get("FOXML_RAY", "1").strip().lower() not in _OFF


def _env_stages() -> bool | None:
    value = os.environ.get("FOXML_RAY_STAGES", "").strip().lower()
    return None if not value else value not in _OFF


class RayResource(dg.ConfigurableResource):
    """Connection settings; `runner()` returns what `train_out_of_fold(runner=...)` takes."""

    enabled: bool = Field(default_factory=_env_enabled, description="False: run tasks in-process.")
    address: str | None = Field(
        default_factory=lambda: os.environ.get("RAY_ADDRESS") or None,
        description="Ray cluster to join; unset starts a local instance.",
    )
    num_cpus: int | None = Field(default=None, description="CPUs of the local instance (default: all).")
    num_gpus: int | None = Field(default=None, description="GPUs of the local instance (default: detected).")
    object_store_mb: int | None = Field(default=None, description="Object store of the local instance.")
    stages: bool | None = Field(
        default_factory=_env_stages,
        description="Fan features, the leakage look-ahead and permutation importance out through Ray "
        "too; unset: only when `address` names a cluster.",
    )
    _connected_here: bool = PrivateAttr(default=False)

    def runner(self) -> InProcessRunner | RayRunner:
        if not self.enabled:
            return InProcessRunner()
        self.connect()
        return RayRunner()

    def stage_runner(self) -> InProcessRunner | RayRunner:
        """The runner for the heavy stages besides training (see the module docstring)."""
        fan_out = self.stages if self.stages is not None else bool(self.address)
        if not (self.enabled and fan_out):
            return InProcessRunner()
        self.connect()
        return RayRunner()

    def connect(self) -> None:
        """Connect once per process; ray is imported only here (the code location stays fast)."""
        import ray

        if ray.is_initialized():
            return
        # Workers import foxml_dagster from this checkout, as the driver does.
        from foxml_dagster.paths import REPO_ROOT

        self._connected_here = True
        if self.address:
            runtime_env = {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}}
            ray.init(address=self.address, runtime_env=runtime_env, log_to_driver=False)
            return
        # A local instance's workers inherit this process's environment, so PYTHONPATH is set
        # here for the start rather than through a runtime_env: a job-level runtime_env makes Ray
        # start a second set of workers through its runtime-env agent (1.5-3 s more before the
        # first task on 2 cores) and leave the workers it pre-started at init idle.
        with _pythonpath_first(str(REPO_ROOT)), local_only_ray():
            ray.init(
                include_dashboard=False,
                num_cpus=self.num_cpus,
                num_gpus=self.num_gpus,
                object_store_memory=self.object_store_mb * 2**20 if self.object_store_mb else None,
                log_to_driver=False,
            )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        """Disconnect (and stop a local instance) only where `connect` made the connection."""
        if self._connected_here:
            import ray

            ray.shutdown()
            self._connected_here = False


@contextlib.contextmanager
def local_only_ray() -> Iterator[None]:
    """While a local Ray starts inside: its node IP is the loopback, so every server it starts
    listens on 127.0.0.1 only.

    Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER at import into ENABLE_RAY_CLUSTER (off: the node
    IP is the loopback). The constant is what the driver reads; the variable is what the processes
    Ray starts inherit. Both are restored afterwards, so a later connection to a cluster from this
    process, or a subprocess, sees Ray's defaults."""
    import ray._private.ray_constants as constants

    before_env, before_flag = os.environ.get(_LOCAL_ONLY), constants.ENABLE_RAY_CLUSTER
    os.environ[_LOCAL_ONLY] = "0"
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = before_flag
        if before_env is None:
            os.environ.pop(_LOCAL_ONLY, None)
        else:
            os.environ[_LOCAL_ONLY] = before_env


_LOCAL_ONLY = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def _pythonpath_first(path: str) -> Iterator[None]:
    """PYTHONPATH with `path` first while the local Ray processes start, then as it was."""
    before = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([path, before] if before else [path])
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = before
