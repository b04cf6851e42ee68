"""drlib.explain on the other Keras backends: JAX (and PyTorch where it is installed).

Keras fixes its backend at import, so the maps are computed in a fresh interpreter with
``KERAS_BACKEND`` set (one subprocess per backend, ~10 s each), on the tiny grader-shaped CNN of
``explain_models`` (Normalization, Conv2D, BatchNormalization with moving statistics, tanh,
GAP, Dense): a DenseNet121 takes over a minute just to build eagerly on JAX. The subprocess
builds the model with *other* weights and loads the ones this (TensorFlow) process saved, computes
every map and writes them to an ``.npz``; every check runs here:

* the backend-independent mathematics again: saliency == central finite differences of the
  float64 reference, ``mean_xy CAM_c + b_c = S_c``, Grad-CAM == ReLU(CAM) / (h w), integrated
  gradients exact on an affine model and complete to < 1e-3 on the tanh model;
* the backend's maps == the TensorFlow maps on the same weights and inputs (saliency, SmoothGrad
  with the same noise, CAM, Grad-CAM, integrated gradients), to 1e-5 of each map's scale: two
  float32 implementations of the same convolutions agree to ~1e-6;
* TensorFlow is never imported on the other backend.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from drlib.explain import (
    class_activation_maps,
    grad_cam,
    integrated_gradients,
    saliency,
    smoothgrad,
)
from drlib.runtime import backend

try:
    from explain_models import (
        full_float32,
        random_images,
        reference_features,
        reference_gradient,
        reference_scores,
        rel_error,
        tiny_model,
        tiny_weights,
    )
except ImportError:  # tests/ imported as a package
    from tests.explain_models import (
        full_float32,
        random_images,
        reference_features,
        reference_gradient,
        reference_scores,
        rel_error,
        tiny_model,
        tiny_weights,
    )

REL = 1e-5
TESTS_DIR = Path(__file__).resolve().parent
CLASSES = [0, 2, 1, 2]


@pytest.fixture(scope="module", autouse=True)
def _full_float32():
    with full_float32():
        yield


# Runs in the subprocess: argv[1] = folder with inputs.npz and tiny.weights.h5; writes maps.npz.
MAPS_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    sys.path.insert(0, {tests_dir!r})
    import numpy as np
    import drlib
    import keras
    from drlib import explain
    from explain_models import tiny_model

    folder = Path(sys.argv[1])
    inputs = np.load(folder / "inputs.npz")
    x, classes, noise, baseline = (inputs[k] for k in ("x", "classes", "noise", "baseline"))
    model = tiny_model("tanh", seed=99)  # other weights: the file's must replace them
    model.load_weights(str(folder / "tiny.weights.h5"))
    out = {{}}
    # batches of 3 for 4 images: the last batch is padded (one compiled shape per function)
    sal = explain.saliency(model, x, classes, reduce="none", batch_size=3)
    out["sal_gradients"], out["sal_scores"] = sal.gradients, sal.scores
    out["sal_predicted"] = explain.saliency(model, x, None, batch_size=3).classes
    sg = explain.smoothgrad(model, x, classes, noise=noise, batch_size=3)
    out["sg_gradients"] = sg.gradients
    cam = explain.class_activation_maps(model, x, classes, all_classes=True, batch_size=3)
    out["cam_all"], out["cam_maps"], out["cam_scores"] = cam.all_maps, cam.maps, cam.scores
    out["cam_bias"], out["cam_identity_error"] = cam.bias, cam.identity_error()
    gc = explain.grad_cam(model, x, classes, batch_size=3)
    out["gc_maps"], out["gc_alpha"] = gc.maps, gc.alpha
    out["gc_signed"] = explain.grad_cam(model, x, classes, relu=False, batch_size=3).maps
    ig = explain.integrated_gradients(model, x, classes, baseline=baseline, steps=8,
                                      batch_size=3)
    out["ig_attributions"], out["ig_scores"] = ig.attributions, ig.scores
    out["ig_baseline_scores"] = ig.baseline_scores
    out["ig32_error"] = explain.integrated_gradients(model, x, classes, steps=32,
                                                     batch_size=3).completeness_error
    linear = tiny_model("linear", seed=0)
    out["ig_linear"] = explain.integrated_gradients(linear, x, classes, baseline=baseline,
                                                    steps=2, batch_size=3).attributions
    np.savez(folder / "maps.npz", **out)
    print(json.dumps({{"backend": keras.backend.backend(),
                      "tf_loaded": "tensorflow" in sys.modules}}))
    """
)


def _run_python(code: str, args: list[str], keras_backend: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with ``KERAS_BACKEND`` set (as tests/test_backend.py)."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_BACKEND"] = keras_backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # float32 on the CPU unless told otherwise: on a GPU, JAX's default matmul precision is TF32
    env.setdefault("JAX_PLATFORMS", "cpu")
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, f"subprocess failed:\n{result.stdout}\n{result.stderr}"
    return result


def _inputs() -> dict[str, np.ndarray]:
    x = random_images(4, seed=41)
    noise = np.random.default_rng(42).normal(0.0, 30.0, (3, *x.shape)).astype(np.float32)
    return {"x": x, "classes": np.array(CLASSES), "noise": noise,
            "baseline": random_images(4, seed=43) * 0.25}


@pytest.fixture(scope="module", params=["jax", "torch"])
def other_backend(request, tmp_path_factory):
    """(backend name, report, the backend's maps, the TensorFlow maps) on the same weights."""
    name = request.param
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"{name} is not installed")
    if backend.name() != "tensorflow":
        pytest.skip("the reference maps are computed on the TensorFlow backend")
    folder = tmp_path_factory.mktemp(f"explain_{name}")
    inputs = _inputs()
    np.savez(folder / "inputs.npz", **inputs)
    model = tiny_model("tanh", seed=0)
    model.save_weights(str(folder / "tiny.weights.h5"))
    code = MAPS_SCRIPT.format(tests_dir=str(TESTS_DIR))
    report = json.loads(_run_python(code, [str(folder)], name).stdout.strip().splitlines()[-1])
    theirs = dict(np.load(folder / "maps.npz"))
    x, noise, baseline = inputs["x"], inputs["noise"], inputs["baseline"]
    cam = class_activation_maps(model, x, CLASSES, all_classes=True)
    ours = {
        "sal_gradients": saliency(model, x, CLASSES, reduce="none").gradients,
        "sg_gradients": smoothgrad(model, x, CLASSES, noise=noise).gradients,
        "cam_all": cam.all_maps, "cam_scores": cam.scores,
        "gc_maps": grad_cam(model, x, CLASSES).maps,
        "gc_signed": grad_cam(model, x, CLASSES, relu=False).maps,
        "ig_attributions": integrated_gradients(model, x, CLASSES, baseline=baseline,
                                                steps=8).attributions,
    }
    return name, report, theirs, ours, inputs


def test_runs_on_the_backend_without_tensorflow(other_backend):
    name, report, *_ = other_backend
    assert report == {"backend": name, "tf_loaded": False}


def test_saliency_equals_finite_differences(other_backend):
    _, _, maps, _, inputs = other_backend
    x = inputs["x"]
    assert rel_error(maps["sal_gradients"], reference_gradient(x, CLASSES)) <= REL
    assert rel_error(maps["sal_scores"], reference_scores(x)) <= REL
    np.testing.assert_array_equal(maps["sal_predicted"], np.argmax(reference_scores(x), axis=1))


def test_cam_identity_and_grad_cam(other_backend):
    _, _, maps, _, inputs = other_backend
    x = inputs["x"]
    w = tiny_weights()
    expected = np.einsum("nhwk,kc->nchw", reference_features(x), w["dense_kernel"])
    assert rel_error(maps["cam_all"], expected) <= REL
    scores = reference_scores(x)
    tol = REL * np.abs(scores).max()
    lhs = maps["cam_all"].astype(np.float64).mean(axis=(2, 3)) + maps["cam_bias"]
    assert np.abs(lhs - scores).max() <= tol
    assert np.abs(maps["cam_scores"] - scores).max() <= tol
    assert float(maps["cam_identity_error"]) <= tol
    np.testing.assert_array_equal(maps["cam_bias"], w["dense_bias"])
    np.testing.assert_array_equal(maps["cam_maps"], maps["cam_all"][np.arange(4), CLASSES])
    cells = 36.0  # 6 x 6 grid
    assert rel_error(maps["gc_maps"], np.maximum(maps["cam_maps"], 0) / cells) <= REL
    assert rel_error(maps["gc_signed"], maps["cam_maps"] / cells) <= REL
    assert rel_error(maps["gc_alpha"], w["dense_kernel"][:, CLASSES].T / cells) <= REL


def test_integrated_gradients(other_backend):
    _, _, maps, _, inputs = other_backend
    x, baseline = inputs["x"], inputs["baseline"]
    assert maps["ig32_error"].max() < 1e-3
    rows = np.arange(4)
    scale = np.abs(reference_scores(x)).max()
    assert np.abs(maps["ig_scores"] - reference_scores(x)[rows, CLASSES]).max() <= REL * scale
    assert np.abs(maps["ig_baseline_scores"]
                  - reference_scores(baseline)[rows, CLASSES]).max() <= REL * scale
    # affine model: IG = (x - baseline) * w exactly, w from the float64 reference
    basis = np.eye(8 * 8 * 3).reshape(-1, 8, 8, 3)
    zero = reference_scores(np.zeros((1, 8, 8, 3)), "linear")
    w = (reference_scores(basis, "linear") - zero).reshape(8, 8, 3, -1)
    expected = (x - baseline) * np.moveaxis(w[..., CLASSES], -1, 0)
    assert rel_error(maps["ig_linear"], expected) <= REL


@pytest.mark.parametrize("key", ["sal_gradients", "sg_gradients", "cam_all", "cam_scores",
                                 "gc_maps", "gc_signed", "ig_attributions"])
def test_maps_equal_the_tensorflow_maps(other_backend, key):
    _, _, maps, ours, _ = other_backend
    assert maps[key].shape == ours[key].shape
    assert rel_error(maps[key], ours[key]) <= REL
