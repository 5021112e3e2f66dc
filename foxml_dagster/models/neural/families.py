"""The neural families: one class each, a few lines, on top of `TorchFamily`."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import Field, StrictInt, model_validator

from foxml_dagster.models.neural import nets
from foxml_dagster.models.neural.base import SequenceParams, TorchFamily, TorchParams
from foxml_dagster.models.registry import register_family


@register_family("mlp")
class MLPFamily(TorchFamily):
    """Feed-forward network on one row of features (tabular)."""

    class Params(TorchParams):
        num_layers: StrictInt = Field(2, ge=1, description="hidden layers")

    def _build_net(self, n_features: int):
        p = self.params
        return nets.mlp(n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]))


class _Recurrent(TorchFamily):
    input_kind = "sequence"
    Params = SequenceParams
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

    class Params(SequenceParams):
        kernel_size: StrictInt = Field(3, ge=1, description="bars each convolution spans (same-padded)")

    def _build_net(self, n_features: int):
        p = self.params
        return nets.cnn1d(
            n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]), int(p["kernel_size"])
        )


@register_family("tcn")
class TCNFamily(TorchFamily):
    """Temporal convolutional network: causal dilated convolutions (dilation 1, 2, 4, ...)."""

    input_kind = "sequence"

    class Params(SequenceParams):
        num_layers: StrictInt = Field(3, ge=1, description="causal blocks, dilated 1, 2, 4, ...")
        kernel_size: StrictInt = Field(3, ge=1, description="bars each causal convolution spans, before dilation")

    def _build_net(self, n_features: int):
        p = self.params
        return nets.tcn(
            n_features, int(p["hidden_size"]), int(p["num_layers"]), float(p["dropout"]), int(p["kernel_size"])
        )


@register_family("transformer")
class TransformerFamily(TorchFamily):
    """Transformer encoder over the window; `num_heads` must divide `hidden_size`."""

    input_kind = "sequence"

    class Params(SequenceParams):
        num_heads: StrictInt = Field(4, ge=1, description="attention heads; must divide hidden_size")

        @model_validator(mode="after")
        def _heads_divide_the_width(self) -> Self:
            if self.hidden_size % self.num_heads:
                raise ValueError(f"hidden_size {self.hidden_size} must be divisible by num_heads {self.num_heads}")
            return self

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
