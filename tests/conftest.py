"""Shared pytest setup: headless plotting, and GPU tests only where a GPU is visible."""

from __future__ import annotations

import os
import shutil

import pytest

# Figures are drawn off-screen in tests (set before anything imports matplotlib.pyplot).
os.environ.setdefault("MPLBACKEND", "Agg")

# The course's backend policy (drlib.runtime.backend.ensure: the Keras backend, TensorFlow's CPU
# allocator and kernels) must be in place before any test module imports keras; conftest is
# imported before them.
import drlib  # noqa: E402,F401


def gpu_visible() -> bool:
    """True if a GPU is visible: DRLIB_GPU=1 forces yes, DRLIB_GPU=0 forces no, else nvidia-smi.

    Deliberately does not import TensorFlow or JAX (slow, and it would fix the Keras backend).
    """
    forced = os.environ.get("DRLIB_GPU", "").strip()
    if forced in {"0", "1"}:
        return forced == "1"
    return shutil.which("nvidia-smi") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if gpu_visible():
        return
    skip_gpu = pytest.mark.skip(
        reason="needs a GPU (no nvidia-smi on PATH; set DRLIB_GPU=1 to force)"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
