"""Things to settle before the model is built: random seeds and numerical precision."""

from __future__ import annotations

import keras

from drlib.runtime.devices import has_accelerator

MIXED_POLICY = "mixed_bfloat16"
"""Mixed precision used on GPUs: bfloat16 compute, float32 variables, no loss scaling."""


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and the Keras backend (``keras.utils.set_random_seed``)."""
    keras.utils.set_random_seed(int(seed))


def resolve_precision(mode: str = "auto") -> str:
    """The Keras dtype policy name for ``mode`` (``"auto"``, ``"on"``, ``"off"``).

    ``"auto"`` means mixed bfloat16 when an accelerator is visible, float32 otherwise: on a
    CPU, bfloat16 is slower, not faster.
    """
    if mode == "auto":
        return MIXED_POLICY if has_accelerator() else "float32"
    if mode == "on":
        return MIXED_POLICY
    if mode == "off":
        return "float32"
    raise ValueError(f"mixed precision mode must be 'auto', 'on' or 'off', got {mode!r}")


def configure_precision(mode: str = "auto") -> str:
    """Set the global Keras dtype policy for ``mode`` and return its name.

    Call before building the model: layers take the policy at construction time. The model's
    head (pooling, class scores, softmax) stays float32 whatever the policy
    (drlib.modeling.densenet).
    """
    policy = resolve_precision(mode)
    keras.config.set_dtype_policy(policy)
    return policy
