"""scripts/batchnorm_lag.py: scoring with re-estimated batch-normalisation statistics leaves the
model as it found it, and inside, the averages are the plain mean of the batches' statistics."""

from __future__ import annotations

import keras
import numpy as np

from drlib.modeling import build_densenet

try:
    from script_modules import load_script
except ImportError:  # tests/ imported as a package
    from tests.script_modules import load_script



def test_reestimated_statistics_are_the_batches_mean_and_are_put_back():
    lag = load_script("batchnorm_lag")
    keras.utils.set_random_seed(0)
    model = build_densenet(32)
    first = model.get_layer("conv1_bn")
    rng = np.random.default_rng(0)
    batches = [rng.uniform(0, 255, (4, 32, 32, 3)).astype(np.float32) for _ in range(3)]
    before = keras.Model(model.input, first.input)
    # the first layer's input does not depend on any batch-normalisation statistics
    expected = np.mean([keras.ops.convert_to_numpy(before(b, training=False)).mean(axis=(0, 1, 2))
                        for b in batches], axis=0)
    saved_mean = keras.ops.convert_to_numpy(first.moving_mean).copy()

    def inside():
        return keras.ops.convert_to_numpy(first.moving_mean).copy()

    seen = lag.with_reestimated_statistics(model, batches, inside)
    np.testing.assert_allclose(seen, expected, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first.moving_mean), saved_mean)
    assert {layer.momentum for layer in lag.batchnorm_layers(model)} == {0.99}
