"""Bad input: a clear error naming the op, the shapes or dtypes, and what was expected,
raised before anything changes."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


def leaf(v):
    return cr.Tensor(v, requires_grad=True)


def test_misaligned_matmul():
    a, b = leaf(np.ones((2, 3))), leaf(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3\).*\(4, 5\).*must equal"):
        a @ b
    with pytest.raises(ValueError, match="matmul.*at least one dimension"):
        cr.matmul(cr.Tensor(1.0), b)


def test_non_broadcastable_shapes():
    with pytest.raises(ValueError, match=r"Add.*\(2, 3\).*\(4,\)"):
        leaf(np.ones((2, 3))) + leaf(np.ones(4))
    with pytest.raises(ValueError, match=r"expand.*\(3,\).*\(2, 4\)"):
        leaf(np.ones(3)).expand(2, 4)


def test_backward_on_non_scalar_without_grad():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match=r"backward.*shape \(2,\).*grad="):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\).*\(2,\)"):
        y.backward(np.ones(3))


def test_requires_grad_on_ints():
    with pytest.raises(TypeError, match="requires_grad.*floating.*int64"):
        cr.Tensor([1, 2], requires_grad=True)


def test_backward_without_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        cr.Tensor(1.0).backward()


def test_gate_returning_wrong_number_of_gradients_is_named():
    class TwoGrads(cr.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = leaf([1.0])
    with pytest.raises(ValueError, match=r"TwoGrads.backward returned 2 gradient\(s\) for 1 input"):
        (TwoGrads.apply(x) * 3).sum().backward()
    assert x.grad is None  # nothing was written


def test_gate_returning_wrong_shape_is_named():
    class BadShape(cr.Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum()

        @staticmethod
        def backward(ctx, g):
            return g  # forgot to expand back to the input's shape

    x, w = leaf([1.0, 2.0]), leaf([3.0])
    y = (BadShape.apply(x) * w).sum()
    with pytest.raises(ValueError, match=r"BadShape.backward returned a gradient of shape \(\) for input 0, which has shape \(2,\)"):
        y.backward()
    assert x.grad is None and w.grad is None  # leaves are written only after every gate ran


def test_reduction_axis_errors():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match="sum: dim 2 is out of range.*2 dimension"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="max: tensor of shape \\(0,\\) is empty"):
        cr.max(cr.Tensor(np.ones(0)))


def test_reshape_concat_pad_errors():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape shape \(2, 3\).*into \(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"concatenate: tensor 1 has shape \(3, 3\)"):
        cr.concatenate([x, cr.Tensor(np.ones((3, 3)))], axis=1)
    with pytest.raises(ValueError, match="pad: widths"):
        x.pad([(1, 1)])
    with pytest.raises(ValueError, match="permute: axes"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="squeeze: axis 1"):
        x.squeeze(axis=1)  # NumPy's spelling refuses; PyTorch's squeeze(1) leaves the axis
    with pytest.raises(IndexError, match="GetItem"):
        x[5]


def test_clip_bounds():
    with pytest.raises(ValueError, match="clip: lo=2 is greater than hi=1"):
        cr.clip(leaf([1.0]), 2, 1)


def test_item_on_many_elements():
    with pytest.raises(ValueError, match=r"item: tensor has shape \(2,\)"):
        cr.Tensor([1.0, 2.0]).item()


def test_numpy_error_subclasses_are_reraised_with_the_gate_name():
    # NumPy raises a UFuncTypeError (a TypeError subclass with its own constructor)
    with pytest.raises(TypeError, match=r"Add: .*input shapes: \(1,\), \(1,\)"):
        cr.Tensor([1.0]) + np.array(["a"])


@pytest.mark.parametrize(
    "data,kind,words",
    [("abc", TypeError, "Tensor: got str data"), (None, TypeError, "Tensor: got NoneType data"),
     ({"a": 1}, TypeError, "Tensor: got dict data"),
     ([[1.0, 2.0], [3.0]], ValueError, "Tensor: cannot make an array of list data .* one length per level")],  # fmt: skip
)
def test_tensor_refuses_what_is_not_numbers(data, kind, words):
    with pytest.raises(kind, match=words):
        cr.Tensor(data)


def test_conv2d_on_one_image_says_to_add_the_batch_axis():
    with pytest.raises(ValueError, match=r"conv2d: input has shape \(3, 8, 8\), 3 axes; expected 4 axes \(N, C, H, W\).*unsqueeze"):
        cr.nn.Conv2d(3, 4, 3)(cr.Tensor(np.zeros((3, 8, 8))))


def test_layers_take_raw_arrays_in_their_parameters_dtype():
    # a float64 NumPy batch would otherwise run the net in float64, silently and slowly
    assert cr.nn.Linear(3, 4)(np.zeros((2, 3))).dtype == np.float32
    assert cr.nn.Conv2d(3, 4, 3)(np.zeros((1, 3, 5, 5))).dtype == np.float32
    assert cr.nn.Linear(3, 4)(cr.Tensor(np.zeros((2, 3)), dtype="float64")).dtype == np.float64  # a Tensor as it is
