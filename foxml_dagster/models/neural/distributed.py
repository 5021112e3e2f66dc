"""Multi-GPU data-parallel training of one neural model through Ray Train (DDP under Lightning).

Used when a neural family is configured with `accelerator: gpu` and `devices > 1`. Ray Train
starts one worker per GPU, each with a shard of every batch (DistributedSampler); rank 0 reports
the final weights. This path needs a Ray cluster with GPUs: it is not exercised by CI, which has
none (see docs/models.md).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def fit_data_parallel(family, scaled, X: np.ndarray, y, w, validation, batch: int) -> tuple[dict, dict[str, Any]]:
    """Train `scaled` (the scaler + network module) on `devices` GPUs; return (state_dict, info)."""
    import ray
    import torch
    from ray.train import Checkpoint, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from foxml_dagster.models.neural.base import _LitBinary, _tensors

    p = family.params
    data_ref = ray.put((X, y, w, validation))
    module_bytes = io.BytesIO()
    torch.save(scaled, module_bytes)  # the whole module: workers rebuild nothing themselves
    module_ref = ray.put(module_bytes.getvalue())

    def train_loop(_config: dict) -> None:
        import tempfile

        import lightning as L
        import ray.train
        from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment, prepare_trainer

        L.seed_everything(family.seed, workers=True, verbose=False)
        X_, y_, w_, val = ray.get(data_ref)
        model = torch.load(io.BytesIO(ray.get(module_ref)), weights_only=False)
        lit = _LitBinary(model, float(p["learning_rate"]), float(p["weight_decay"]))
        train_loader = torch.utils.data.DataLoader(_tensors(X_, y_, w_), batch_size=batch, shuffle=True)
        val_loader = torch.utils.data.DataLoader(_tensors(*val), batch_size=4096) if val is not None else None
        callbacks = [L.pytorch.callbacks.EarlyStopping(monitor="val_loss", patience=int(p["patience"]))] if val else []
        trainer = L.Trainer(
            max_epochs=int(p["max_epochs"]),
            accelerator="gpu",
            devices="auto",
            strategy=RayDDPStrategy(),
            plugins=[RayLightningEnvironment()],
            deterministic=True,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            callbacks=callbacks,
        )
        trainer = prepare_trainer(trainer)
        trainer.fit(lit, train_loader, val_loader)
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if ray.train.get_context().get_world_rank() == 0:
                torch.save(model.state_dict(), f"{tmp}/state.pt")
                checkpoint = Checkpoint.from_directory(tmp)
            ray.train.report({"epochs": int(trainer.current_epoch)}, checkpoint=checkpoint)

    result = TorchTrainer(
        train_loop,
        scaling_config=ScalingConfig(num_workers=int(p["devices"]), use_gpu=True),
        run_config=RunConfig(name=f"foxml-{family.family}"),
    ).fit()
    with result.checkpoint.as_directory() as folder:
        state = torch.load(f"{folder}/state.pt", map_location="cpu", weights_only=True)
    return state, {"epochs": int(result.metrics.get("epochs", 0)), "data_parallel_gpus": int(p["devices"])}
