"""drlib: the small library behind the diabetic-retinopathy course."""

# The Keras backend must be chosen before anything imports keras: drlib.runtime.backend holds that
# policy
# (TensorFlow by default, KERAS_BACKEND=jax or torch when set) and never imports TensorFlow itself.
from drlib.runtime import backend as _backend

_backend.ensure()

__version__ = "0.1.0"
