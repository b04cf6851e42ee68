"""Tests for drlib.runtime.backend: the Keras backend policy and the per-backend input gradient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from drlib.runtime import backend

# A Dense layer with linear activation: y = x @ W + b, so d(sum_n y[n, c]) / dx[n] = W[:, c].
TINY_MODEL = textwrap.dedent(
    """
    import numpy as np
    import keras

    def tiny_linear_model():
        weights = np.arange(12, dtype="float32").reshape(4, 3) / 10.0 - 0.5
        bias = np.array([0.1, -0.2, 0.3], dtype="float32")
        inputs = keras.Input(shape=(4,))
        dense = keras.layers.Dense(3, activation="linear")
        model = keras.Model(inputs, dense(inputs))
        dense.set_weights([weights, bias])
        return model, weights
    """
)


def _run_python(code: str, keras_backend: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter, KERAS_BACKEND set to ``keras_backend`` or unset."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    if keras_backend is not None:
        env["KERAS_BACKEND"] = keras_backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"subprocess failed:\n{result.stdout}\n{result.stderr}"
    return result


def test_jax_backend_never_imports_tensorflow() -> None:
    code = textwrap.dedent(
        """
        import json, sys
        import drlib, drlib.runtime.backend, keras
        print(json.dumps({
            "tf_loaded": "tensorflow" in sys.modules,
            "keras_backend": keras.backend.backend(),
            "drlib_backend": drlib.runtime.backend.name(),
        }))
        """
    )
    report = json.loads(_run_python(code, "jax").stdout.strip().splitlines()[-1])
    assert report == {"tf_loaded": False, "keras_backend": "jax", "drlib_backend": "jax"}


def test_default_backend_is_tensorflow_when_unset() -> None:
    code = textwrap.dedent(
        """
        import json, os
        import drlib
        env_value = os.environ.get("KERAS_BACKEND")
        import keras
        print(json.dumps([env_value, keras.backend.backend(), drlib.runtime.backend.name()]))
        """
    )
    report = json.loads(_run_python(code, None).stdout.strip().splitlines()[-1])
    assert report == ["tensorflow", "tensorflow", "tensorflow"]


def test_empty_backend_variable_counts_as_unset() -> None:
    code = "import os, drlib; print(os.environ['KERAS_BACKEND'])"
    assert _run_python(code, "").stdout.strip().splitlines()[-1] == "tensorflow"


def test_unknown_backend_is_a_clear_error() -> None:
    code = "import drlib"
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_BACKEND"] = "theano"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "KERAS_BACKEND='theano' is not a Keras backend" in result.stderr


@pytest.mark.parametrize(("variable", "default", "chosen"), [
    # TensorFlow's pooling (BFC) CPU allocator
    ("TF_CPU_ALLOCATOR_USE_BFC", "true", "false"),
    # its own CPU kernels, not oneDNN's (which change the last digits of pinned outputs between
    # processors)
    ("TF_ENABLE_ONEDNN_OPTS", "0", "1"),
])
def test_tensorflow_settings_are_made_before_it_loads_unless_set(variable, default,
                                                                 chosen) -> None:
    """drlib sets them when imported (before TensorFlow loads) and keeps a value the user set."""
    code = f"import os, drlib; print(os.environ.get({variable!r}))"
    env = {k: v for k, v in os.environ.items() if k != variable}
    unset = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=120)
    kept = subprocess.run([sys.executable, "-c", code], env={**env, variable: chosen},
                          capture_output=True, text=True, timeout=120)
    assert unset.stdout.split() == [default], unset.stderr
    assert kept.stdout.split() == [chosen], kept.stderr


def _in_process_tiny_model():
    namespace: dict = {}
    exec(TINY_MODEL, namespace)
    return namespace["tiny_linear_model"]()


def test_input_gradient_matches_weight_column_in_process() -> None:
    if backend.name() != "tensorflow":
        pytest.skip(f"in-process check targets the default backend, this run uses {backend.name()}")
    model, weights = _in_process_tiny_model()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    for c in range(3):
        grad = backend.input_gradient(model, x, c)
        assert grad.shape == x.shape and grad.dtype == np.float32
        np.testing.assert_allclose(grad, np.tile(weights[:, c], (5, 1)), rtol=1e-6, atol=1e-7)


def test_input_gradient_rejects_bad_output_index() -> None:
    if backend.name() != "tensorflow":
        pytest.skip(f"in-process check targets the default backend, this run uses {backend.name()}")
    model, _ = _in_process_tiny_model()
    with pytest.raises(IndexError, match="output_index=3 is out of range"):
        backend.input_gradient(model, np.zeros((1, 4), "float32"), 3)


def test_input_gradient_matches_weight_column_on_jax() -> None:
    code = TINY_MODEL + textwrap.dedent(
        """
        import json, sys
        import drlib
        from drlib.runtime import backend
        model, weights = tiny_linear_model()
        x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
        errors = []
        for c in range(3):
            grad = backend.input_gradient(model, x, c)
            assert grad.shape == x.shape and grad.dtype == np.float32
            errors.append(float(np.abs(grad - weights[:, c]).max()))
        print(json.dumps({"backend": backend.name(), "errors": errors,
                          "tf_loaded": "tensorflow" in sys.modules}))
        """
    )
    # TINY_MODEL imports keras first: import drlib before it so the policy runs first.
    code = "import drlib\n" + code
    report = json.loads(_run_python(code, "jax").stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["tf_loaded"] is False
    assert max(report["errors"]) < 1e-6
