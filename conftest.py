"""Pytest set-up shared by tests/ and the docstring examples in kerasalign/.

The Keras backend comes from KERAS_BACKEND (jax by default); it must be set
before anything imports keras.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
