"""The neural families: one class each, a few lines, on top of `TorchFamily`."""

from __future__ import annotations

from typing import Any, ClassVar

from foxml_dagster.models.neural import nets
from foxml_dagster.models.neural.base import TorchFamily
from foxml_dagster.models.registry import register_family

_SEQUENCE = {"window": 20}


@register_family("mlp")
class MLPFamily(TorchFamily):
    """Feed-forward network on one row of features (tabular)."""

    default_params: ClassVar[dict[str, Any]] = {**TorchFamily.base_params, "num_layers": 2}

    def _build_net(self, n_features: int):
        p = self.params
        return nets.mlp(n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]))


class _Recurrent(TorchFamily):
    input_kind = "sequence"
    default_params: ClassVar[dict[str, Any]] = {**TorchFamily.base_params, **_SEQUENCE}
    _cell: ClassVar[str] = ""

    def _build_net(self, n_features: int):
        p = self.params
        return nets.recurrent(self._cell, n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]))


@register_family("lstm")
class LSTMFamily(_Recurrent):
    """LSTM over the symbol's last `window` bars of features."""

    _cell = "lstm"


@register_family("gru")
class GRUFamily(_Recurrent):
    """GRU over the symbol's last `window` bars of features."""

    _cell = "gru"


@register_family("cnn1d")
class CNN1DFamily(TorchFamily):
    """1-D convolutions across the window, averaged over time."""

    input_kind = "sequence"
    default_params: ClassVar[dict[str, Any]] = {**TorchFamily.base_params, **_SEQUENCE, "kernel_size": 3}

    def _build_net(self, n_features: int):
        p = self.params
        return nets.cnn1d(
            n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]), int(p["kernel_size"])
        )


@register_family("tcn")
class TCNFamily(TorchFamily):
    """Temporal convolutional network: causal dilated convolutions (dilation 1, 2, 4, ...)."""

    input_kind = "sequence"
    default_params: ClassVar[dict[str, Any]] = {
        **TorchFamily.base_params,
        **_SEQUENCE,
        "num_layers": 3,
        "kernel_size": 3,
    }

    def _build_net(self, n_features: int):
        p = self.params
        return nets.tcn(
            n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]), int(p["kernel_size"])
        )


@register_family("transformer")
class TransformerFamily(TorchFamily):
    """Transformer encoder over the window; `num_heads` must divide `hidden_size`."""

    input_kind = "sequence"
    default_params: ClassVar[dict[str, Any]] = {**TorchFamily.base_params, **_SEQUENCE, "num_heads": 4}

    def _validate_params(self) -> None:
        super()._validate_params()
        if int(self.params["hidden_size"]) % int(self.params["num_heads"]):
            raise ValueError(
                f"hidden_size {self.params['hidden_size']} must be divisible by num_heads {self.params['num_heads']}"
            )

    def _build_net(self, n_features: int):
        p = self.params
        return nets.transformer(
            n_features,
            int(p["hidden_size"]),
            int(p["num_layers"]),
            float(p["dropout"]),
            int(p["num_heads"]),
            int(p["window"]),
        )
