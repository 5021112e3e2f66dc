"""The networks behind the neural families. Each maps standardised inputs to one logit.

Tabular nets take (batch, k); sequence nets take (batch, window, k) ordered oldest to newest,
and read the output at the last step, which is the sample's own bar. torch is imported by the
caller's first use of these builders, never at package import.
"""

from __future__ import annotations


def mlp(n_features: int, hidden: int, layers: int, dropout: float):
    import torch.nn as nn

    blocks: list[nn.Module] = []
    width = n_features
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    return nn.Sequential(*blocks, nn.Linear(width, 1))


def recurrent(kind: str, n_features: int, hidden: int, layers: int, dropout: float):
    import torch.nn as nn

    cell = {"lstm": nn.LSTM, "gru": nn.GRU}[kind]

    class Recurrent(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = cell(
                n_features, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0
            )
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1, :])

    return Recurrent()


def cnn1d(n_features: int, hidden: int, layers: int, dropout: float, kernel: int):
    import torch
    import torch.nn as nn

    class CNN1D(nn.Module):
        """Same-padded convolutions over the window; the head reads the last step (the sample's
        own bar, where most signal sits) beside the mean over the window."""

        def __init__(self) -> None:
            super().__init__()
            blocks: list[nn.Module] = []
            width = n_features
            for _ in range(layers):
                blocks += [nn.Conv1d(width, hidden, kernel, padding=kernel // 2), nn.ReLU(), nn.Dropout(dropout)]
                width = hidden
            self.body = nn.Sequential(*blocks)
            self.head = nn.Linear(2 * hidden, 1)

        def forward(self, x):
            h = self.body(x.transpose(1, 2))  # (batch, channels, time)
            return self.head(torch.cat([h[:, :, -1], h.mean(dim=2)], dim=1))

    return CNN1D()


def tcn(n_features: int, hidden: int, layers: int, dropout: float, kernel: int):
    import torch.nn as nn
    import torch.nn.functional as F

    class CausalBlock(nn.Module):
        """Dilated convolution padded on the left only, so step t sees steps <= t; residual."""

        def __init__(self, width: int, dilation: int) -> None:
            super().__init__()
            self.pad = (kernel - 1) * dilation
            self.conv = nn.Conv1d(width, hidden, kernel, dilation=dilation)
            self.drop = nn.Dropout(dropout)
            self.skip = nn.Conv1d(width, hidden, 1) if width != hidden else nn.Identity()

        def forward(self, x):
            return F.relu(self.drop(self.conv(F.pad(x, (self.pad, 0)))) + self.skip(x))

    class TCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            blocks = [CausalBlock(n_features if i == 0 else hidden, 2**i) for i in range(layers)]
            self.body = nn.Sequential(*blocks)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            return self.head(self.body(x.transpose(1, 2))[:, :, -1])

    return TCN()


def transformer(n_features: int, hidden: int, layers: int, dropout: float, heads: int, window: int):
    import torch
    import torch.nn as nn

    class Transformer(nn.Module):
        """Linear embedding + learned position embedding, encoder layers, last token -> logit."""

        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Linear(n_features, hidden)
            self.position = nn.Parameter(torch.zeros(1, window, hidden))
            layer = nn.TransformerEncoderLayer(
                hidden, heads, dim_feedforward=2 * hidden, dropout=dropout, batch_first=True
            )
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            h = self.encoder(self.embed(x) + self.position[:, -x.shape[1] :, :])
            return self.head(h[:, -1, :])

    return Transformer()
