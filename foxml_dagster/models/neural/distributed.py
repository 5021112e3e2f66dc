"""Data-parallel training of one neural model through Ray Train (DDP under Lightning).

Used when a neural family has `devices > 1`. Ray Train starts `devices` workers, CPU processes
(DDP over gloo) with `accelerator: cpu` or one per GPU (nccl) with `accelerator: gpu`; each
trains on its shard of every batch (see `base._fit_lightning`) and gradients are averaged across
them after each step. Rank 0 returns the final weights and what it learned about the run.
"""

from __future__ import annotations

import io
import tempfile
from typing import Any


def fit_data_parallel(scaled, train, validation, batch: int, p: dict, seed: int) -> dict[str, Any]:
    """Train `scaled` (the scaler + network module) in place on `devices` workers; return fit facts."""
    import torch
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    def train_loop() -> dict[str, Any]:
        import torch

        from foxml_dagster.models.neural.base import _deterministic_torch, _fit_lightning

        with _deterministic_torch(seed, int(p["num_threads"])):
            info = _fit_lightning(scaled, train, validation, batch, p, seed, distributed=True)
        info.update(
            data_parallel_workers=torch.distributed.get_world_size(),
            data_parallel_backend=torch.distributed.get_backend(),
        )
        state = io.BytesIO()
        torch.save(scaled.state_dict(), state)  # bytes: Ray Train refuses tensors in a return value
        return {"state": state.getvalue(), "info": info}

    use_gpu = p["accelerator"] == "gpu"
    # Nothing is checkpointed (rank 0's weights come back as its return value), but Ray Train
    # still writes run markers under storage_path: keep them out of ~/ray_results.
    with tempfile.TemporaryDirectory(prefix="foxml-ray-train-") as storage:
        result = TorchTrainer(
            train_loop,  # no TorchConfig: TorchTrainer picks gloo on CPUs and nccl on GPUs from use_gpu
            scaling_config=ScalingConfig(
                num_workers=int(p["devices"]), use_gpu=use_gpu, resources_per_worker={"CPU": int(p["num_threads"])}
            ),
            run_config=RunConfig(name="foxml-data-parallel", storage_path=storage),
        ).fit()
    state = io.BytesIO(result.return_value["state"])
    scaled.load_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    return result.return_value["info"]
