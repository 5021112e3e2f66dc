"""`TorchFamily`: the shared fit/predict/save of every neural family, trained with Lightning.

What every neural family gets from here:

- a standard scaler inside the network (buffers), fitted on the training rows only;
- weighted binary cross-entropy, Adam, early stopping on the validation slice's loss, and the
  weights of the best validation epoch restored at the end;
- determinism: seeded `random`, numpy and torch RNGs, `torch.use_deterministic_algorithms(True)`,
  a fixed thread count (`num_threads`), a seeded shuffle of training batches, `num_workers=0`;
- a batch size derived from the task's memory budget (`memory_budget_mb`) unless `batch_size` is
  set, and one retry with half the batch on an out-of-memory error, then `TrainingOutOfMemory`;
- with `devices > 1`, data-parallel training on that many Ray Train workers, CPU processes or
  GPUs by `accelerator` (see `neural.distributed`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any, Literal, Self

import numpy as np
from pydantic import Field, StrictInt, model_validator

from foxml_dagster.models.registry import FamilyParams, ModelFamily

__all__ = ["SequenceParams", "TorchFamily", "TorchParams", "TrainingOutOfMemory", "batch_size_for_budget"]

#: Bytes per float32 activation kept for the backward pass, times a safety factor for optimiser
#: state, gradients and allocator slack. Deliberately pessimistic: a batch that is too small only
#: costs time, one that is too large costs the run.
_ACTIVATION_FACTOR = 16


class TrainingOutOfMemory(RuntimeError):
    """Training ran out of memory at the derived batch size and again at half of it."""


def batch_size_for_budget(
    memory_mb: float | None, *, window: int, n_features: int, hidden: int, layers: int, cap: int
) -> int:
    """The largest power-of-two batch whose estimated activations fit half the memory budget.

    Per sample: `window * (n_features + hidden * layers) * 4 bytes * _ACTIVATION_FACTOR`. Without a
    budget, `cap`. Never below 8 or above `cap`.
    """
    if memory_mb is None:
        return cap
    per_sample = window * (n_features + hidden * max(layers, 1)) * 4 * _ACTIVATION_FACTOR
    fits = int(memory_mb * 2**20 * 0.5 // max(per_sample, 1))
    if fits < 8:
        return 8
    return int(min(cap, 2 ** int(np.floor(np.log2(fits)))))


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    return name == "OutOfMemoryError" or "out of memory" in str(exc).lower()


class TorchParams(FamilyParams):
    """What every neural family accepts."""

    hidden_size: StrictInt = Field(
        32,
        ge=1,
        description="width of the hidden layers: units (mlp, lstm, gru), channels (cnn1d, tcn) or the model width",
    )
    num_layers: StrictInt = Field(
        1,
        ge=1,
        description="layers stacked: recurrent (lstm, gru), convolution blocks (cnn1d) or encoder layers (transformer)",
    )
    dropout: float = Field(0.1, ge=0, lt=1, description="dropout probability (lstm and gru: between their layers only)")
    learning_rate: float = Field(1e-3, gt=0, description="Adam's learning rate")
    weight_decay: float = Field(0.0, ge=0, description="Adam's weight decay (an L2 penalty)")
    max_epochs: StrictInt = Field(20, ge=1, description="training epochs at most")
    patience: StrictInt = Field(
        3, ge=0, description="epochs without a lower validation loss before training stops early"
    )
    batch_size: StrictInt = Field(
        0, ge=0, description="rows per training step; 0: derived from the task's memory budget"
    )
    max_batch_size: StrictInt = Field(256, ge=1, description="the largest batch a derived batch size may be")
    num_threads: StrictInt = Field(
        1, ge=1, description="torch threads of one fit (and CPUs of each Ray Train worker with devices > 1)"
    )
    accelerator: Literal["cpu", "gpu", "auto"] = Field(
        "cpu", description="Lightning's accelerator: cpu, gpu, or auto (devices: 1 only)"
    )
    devices: StrictInt = Field(
        1, ge=1, description="Ray Train workers training data-parallel; 1: the task trains by itself"
    )

    @model_validator(mode="after")
    def _workers_know_their_device(self) -> Self:
        if self.devices > 1 and self.accelerator == "auto":
            # This process cannot see what the Ray Train workers will be placed on.
            raise ValueError(f"devices: {self.devices} trains on Ray Train workers: set accelerator to cpu or gpu")
        return self


class SequenceParams(TorchParams):
    """A sequence family's parameters: the neural ones plus the window of bars it reads."""

    window: StrictInt = Field(20, ge=2, description="bars of the symbol's history each sample reads, its own bar last")


class TorchFamily(ModelFamily):
    """Base of the neural families; subclasses implement `_build_net(n_features)`."""

    uses_validation = True
    Params = TorchParams
    _net: Any = None

    # ------------------------------------------------------------------ subclass hook

    def _build_net(self, n_features: int):  # pragma: no cover - abstract in spirit
        raise NotImplementedError

    # ------------------------------------------------------------------ fit

    def _fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, validation=None) -> None:
        p = self.params
        n_features = X.shape[-1]
        batch = int(p["batch_size"]) or batch_size_for_budget(
            self.memory_budget_mb,
            window=self.window,
            n_features=n_features,
            hidden=int(p["hidden_size"]),
            layers=int(p["num_layers"]),
            cap=int(p["max_batch_size"]),
        )
        try:
            self._train(X, y, sample_weight, validation, batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            _free_accelerator_memory()
            half = max(batch // 2, 1)
            try:
                self._train(X, y, sample_weight, validation, half)
            except Exception as again:
                if not is_out_of_memory(again):
                    raise
                raise TrainingOutOfMemory(
                    f"{self.family}: out of memory at batch size {batch} and again at {half} "
                    f"(memory budget {self.memory_budget_mb} MB, {len(y)} rows, window {self.window}, "
                    f"hidden {p['hidden_size']}); raise the family's resources.memory_mb or "
                    "training.memory_mb, or lower hidden_size / window / max_batch_size"
                ) from again
            self.fit_info_["oom_retry"] = True

    def _train(self, X, y, w, validation, batch: int) -> None:
        p = self.params
        with _deterministic_torch(self.seed, int(p["num_threads"])):
            net = self._build_net(X.shape[-1])
            # The scaler: statistics of each training row's own (last-step) features only.
            rows = X[:, -1, :] if X.ndim == 3 else X
            mean = rows.mean(axis=0)
            std = rows.std(axis=0)
            std[std < 1e-12] = 1.0
            scaled = _Scaled(net, mean, std)
            if int(p["devices"]) > 1:
                from foxml_dagster.models.neural.distributed import fit_data_parallel

                info = fit_data_parallel(scaled, (X, y, w), validation, batch, p, self.seed)
            else:
                info = _fit_lightning(scaled, (X, y, w), validation, batch, p, self.seed)
        self._net = scaled.cpu().eval()
        self.fit_info_.update(batch_size=batch, **info)

    # ------------------------------------------------------------------ predict / state

    def _predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        out = []
        with _deterministic_torch(self.seed, int(self.params["num_threads"])), torch.no_grad():
            for start in range(0, len(X), 4096):
                chunk = torch.as_tensor(X[start : start + 4096], dtype=torch.float32)
                out.append(torch.sigmoid(self._net(chunk)).double().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _dump_state(self) -> bytes:
        import torch

        buffer = io.BytesIO()
        torch.save(self._net.state_dict(), buffer)
        return buffer.getvalue()

    def _load_state(self, state: bytes) -> None:
        import torch

        assert self.n_features_ is not None
        scaled = _Scaled(self._build_net(self.n_features_), np.zeros(self.n_features_), np.ones(self.n_features_))
        scaled.load_state_dict(torch.load(io.BytesIO(state), weights_only=True))
        self._net = scaled.eval()


# ---------------------------------------------------------------------- torch helpers
# Defined through functions so that torch is imported only when a neural family trains.


def _fit_lightning(scaled, train, validation, batch: int, p: dict, seed: int, *, distributed: bool = False) -> dict:
    """Fit `scaled` in place, keep the weights of the best validation epoch; return fit facts.

    `distributed`: this process is one Ray Train worker of a DDP group (`neural.distributed`).
    """
    import lightning as L
    import torch

    lit = _LitBinary(scaled, float(p["learning_rate"]), float(p["weight_decay"]))
    dataset = _tensors(*train)
    if distributed:
        import ray.train
        from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment

        context = ray.train.get_context()
        world = context.get_world_size()
        # Each worker takes its shard of every epoch's seeded shuffle, batch // world rows a step,
        # so one optimiser step still averages the gradient over `batch` rows, as on one device.
        sampler = torch.utils.data.DistributedSampler(
            dataset, num_replicas=world, rank=context.get_world_rank(), shuffle=True, seed=seed
        )
        train_loader = torch.utils.data.DataLoader(dataset, batch_size=max(batch // world, 1), sampler=sampler)
        # Our own sampler, so Lightning leaves the validation slice whole: every worker scores all
        # of it, sees the same val_loss, stops at the same epoch and keeps the same best weights.
        placement: dict[str, Any] = {
            "devices": "auto",
            "strategy": RayDDPStrategy(),
            "plugins": [RayLightningEnvironment()],
            "use_distributed_sampler": False,
        }
    else:
        generator = torch.Generator().manual_seed(seed)
        train_loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, generator=generator)
        placement = {"devices": 1}
    callbacks: list = []
    val_loader = None
    if validation is not None:
        val_loader = torch.utils.data.DataLoader(_tensors(*validation), batch_size=4096)
        callbacks = [
            L.pytorch.callbacks.EarlyStopping(monitor="val_loss", patience=int(p["patience"]), mode="min"),
            _BestWeights(),
        ]
    trainer = L.Trainer(
        max_epochs=int(p["max_epochs"]),
        accelerator=p["accelerator"],
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        **placement,
    )
    trainer.fit(lit, train_loader, val_loader)
    info: dict[str, Any] = {"epochs": int(trainer.current_epoch)}
    if callbacks and callbacks[1].state is not None:
        best = callbacks[1]
        scaled.load_state_dict(best.state)
        info.update(best_epoch=best.epoch, val_loss=best.loss)
    return info


def _tensors(X, y, w):
    import torch

    return torch.utils.data.TensorDataset(
        torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32),
        torch.as_tensor(y, dtype=torch.float32),
        torch.as_tensor(w, dtype=torch.float32),
    )


def _Scaled(net, mean: np.ndarray, std: np.ndarray):  # noqa: N802 - a class factory
    import torch

    class Scaled(torch.nn.Module):
        """(x - mean) / std with training-fold statistics as buffers, then the network."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

        def forward(self, x):
            return self.net((x - self.mean) / self.std).reshape(-1)

    return Scaled()


def _LitBinary(model, lr: float, weight_decay: float):  # noqa: N802 - a class factory
    import lightning as L
    import torch

    class LitBinary(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def _loss(self, batch):
            x, y, w = batch
            logits = self.model(x)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
            return (loss * w).sum() / w.sum()

        def training_step(self, batch, batch_idx):
            return self._loss(batch)

        def validation_step(self, batch, batch_idx):
            self.log("val_loss", self._loss(batch), on_epoch=True, prog_bar=False, batch_size=len(batch[0]))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), lr=lr, weight_decay=weight_decay)

    return LitBinary()


def _BestWeights():  # noqa: N802 - a class factory
    import lightning as L

    class BestWeights(L.Callback):
        """Keeps a copy of the weights of the epoch with the lowest validation loss."""

        def __init__(self) -> None:
            self.state = None
            self.loss = float("inf")
            self.epoch = -1

        def on_validation_epoch_end(self, trainer, pl_module) -> None:
            loss = trainer.callback_metrics.get("val_loss")
            if loss is not None and float(loss) < self.loss:
                self.loss = float(loss)
                self.epoch = int(trainer.current_epoch)
                self.state = {k: v.detach().clone() for k, v in pl_module.model.state_dict().items()}

    return BestWeights()


@contextlib.contextmanager
def _deterministic_torch(seed: int, threads: int) -> Iterator[None]:
    """Seed everything, force deterministic kernels and a fixed thread count; restore after.

    Seeds as `lightning.seed_everything` does, without importing Lightning (about 2.5 s, most of
    it scipy.signal through torchmetrics): a process that only predicts, or only starts
    data-parallel workers, never needs it. The environment variables seed_everything also sets
    matter only to Lightning's own distributed sampler and to DataLoader worker processes, and we
    use neither.
    """
    import random

    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # required by deterministic cuBLAS
    previous_threads = torch.get_num_threads()
    previous_det = torch.are_deterministic_algorithms_enabled()
    quiet = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.ERROR)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            random.seed(seed)
            np.random.seed(seed)
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_det)
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)


def _free_accelerator_memory() -> None:
    import gc

    gc.collect()
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
