"""`kerasalign.backend_ops.value_and_grad` on the current Keras backend."""

import doctest

import keras
import numpy as np
import pytest
from keras import ops

from kerasalign import backend_ops
from kerasalign.backend_ops import value_and_grad

pytestmark = pytest.mark.backend


def test_polynomial_gradient():
    x = ops.convert_to_tensor(np.array([[1.0, -2.0], [0.5, 3.0]], "float32"))
    value, gradient = value_and_grad(lambda t: ops.sum(t**3) + ops.sum(t), x)
    expected = np.array([[1.0, -2.0], [0.5, 3.0]]) ** 3
    np.testing.assert_allclose(float(ops.convert_to_numpy(value)), expected.sum() + 2.5, rtol=1e-6)
    np.testing.assert_allclose(
        ops.convert_to_numpy(gradient), 3 * np.array([[1.0, 4.0], [0.25, 9.0]]) + 1, rtol=1e-6
    )


def test_gradient_through_a_keras_layer_leaves_its_weights_alone():
    layer = keras.layers.Dense(3, use_bias=False)
    layer.build((None, 4))
    kernel = np.arange(12, dtype="float32").reshape(4, 3) / 10
    layer.kernel.assign(kernel)
    x = ops.convert_to_tensor(np.ones((2, 4), "float32"))
    value, gradient = value_and_grad(lambda t: ops.sum(ops.square(layer(t))), x)
    outputs = np.ones((2, 4)) @ kernel
    np.testing.assert_allclose(float(ops.convert_to_numpy(value)), (outputs**2).sum(), rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(gradient), 2 * outputs @ kernel.T, rtol=1e-5)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer.kernel), kernel)


def test_value_is_detached_and_convertible():
    x = ops.convert_to_tensor(np.array([2.0], "float32"))
    value, _ = value_and_grad(lambda t: ops.sum(t * t), x)
    assert float(ops.convert_to_numpy(value)) == 4.0


def test_docstring_examples():
    result = doctest.testmod(backend_ops, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
