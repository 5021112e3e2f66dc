"""The windowed dataset of the sequence families, and their memory-budget behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from foxml_dagster.models import get_family
from foxml_dagster.models.neural import base as neural_base
from foxml_dagster.models.neural.base import TrainingOutOfMemory, batch_size_for_budget
from foxml_dagster.models.windows import group_offsets, make_windows


def panel(n_a: int = 6, n_b: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Two symbols; feature 0 is the symbol (A=1, B=2), feature 1 the bar number within it."""
    a = np.c_[np.ones(n_a), np.arange(n_a)]
    b = np.c_[np.full(n_b, 2.0), np.arange(n_b)]
    return np.vstack([a, b]), group_offsets(np.array(["A"] * n_a + ["B"] * n_b))


def test_a_window_never_crosses_a_symbol_boundary() -> None:
    values, offsets = panel()
    windows = make_windows(values, offsets, np.arange(len(values)), 4)
    assert windows.shape == (11, 4, 2)
    # Every bar of B's windows, including B's first (which has no history), is B's own.
    assert (windows[6:, :, 0] == 2.0).all()
    assert (windows[:6, :, 0] == 1.0).all()
    # Short histories repeat the symbol's first bar rather than borrowing a neighbour's.
    np.testing.assert_array_equal(windows[6, :, 1], [0, 0, 0, 0])
    np.testing.assert_array_equal(windows[8, :, 1], [0, 0, 1, 2])


def test_a_window_never_reads_past_its_own_timestamp() -> None:
    values, offsets = panel()
    before = make_windows(values, offsets, np.arange(len(values)), 3)
    # Plant a huge value at A's bar 3: only windows ending at or after bar 3 of A may see it.
    planted = values.copy()
    planted[3, 1] = 1e9
    after = make_windows(planted, offsets, np.arange(len(values)), 3)
    changed = np.flatnonzero((after != before).any(axis=(1, 2)))
    assert changed.tolist() == [3, 4, 5]
    # The window's last step is the sample's own bar.
    np.testing.assert_array_equal(after[:, -1, :], planted)


def test_windows_validate_their_inputs() -> None:
    values, offsets = panel()
    with pytest.raises(ValueError, match="window"):
        make_windows(values, offsets, np.arange(3), 0)
    with pytest.raises(ValueError, match="offsets"):
        make_windows(values, np.array([0, 3]), np.arange(3), 2)


def test_batch_size_comes_from_the_memory_budget() -> None:
    kw = {"window": 20, "n_features": 30, "hidden": 64, "layers": 2, "cap": 4096}
    small, large = batch_size_for_budget(8, **kw), batch_size_for_budget(512, **kw)
    assert 8 <= small < large <= 4096
    assert small & (small - 1) == 0  # a power of two
    assert batch_size_for_budget(None, **kw) == 4096


def _fake_oom(monkeypatch, failures: int) -> list[int]:
    """Make TorchFamily._train raise an out-of-memory error `failures` times; record batch sizes."""
    seen: list[int] = []
    real = neural_base.TorchFamily._train

    def train(self, X, y, w, validation, batch):
        seen.append(batch)
        if len(seen) <= failures:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, X, y, w, validation, batch)

    monkeypatch.setattr(neural_base.TorchFamily, "_train", train)
    return seen


def test_out_of_memory_is_retried_once_with_half_the_batch(monkeypatch) -> None:
    seen = _fake_oom(monkeypatch, failures=1)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), rng.integers(0, 2, 64)
    model = get_family("mlp")(hidden_size=4, max_epochs=1, batch_size=32).fit(X, y)
    assert seen == [32, 16] and model.fit_info_["oom_retry"] and model.fit_info_["batch_size"] == 16


def test_a_second_out_of_memory_is_reported_clearly(monkeypatch) -> None:
    _fake_oom(monkeypatch, failures=2)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 3)), rng.integers(0, 2, 64)
    model = get_family("mlp")(hidden_size=4, max_epochs=1, batch_size=32)
    model.memory_budget_mb = 100
    with pytest.raises(TrainingOutOfMemory, match=r"batch size 32 and again at 16.*memory_mb"):
        model.fit(X, y)
