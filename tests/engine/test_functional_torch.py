"""Comparison of values and gradients with PyTorch in float64; skipped when torch is absent."""

import numpy as np
import pytest

from cnn_core.functional import (
    conv_backward,
    conv_forward,
    pool_backward,
    pool_forward,
    softmax_cross_entropy,
)

torch = pytest.importorskip("torch")


def to_nchw(A):
    return torch.tensor(np.ascontiguousarray(A.transpose(0, 3, 1, 2)), requires_grad=True)


def from_nchw(T):
    return T.detach().numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize(
    ("shape", "n_C", "f", "stride", "pad"),
    [((2, 7, 6, 3), 4, 3, 1, 1), ((2, 8, 9, 2), 3, 3, 2, 0), ((1, 9, 7, 2), 2, 2, 3, 2)],
)
def test_conv_matches_torch(shape, n_C, f, stride, pad):
    rng = np.random.default_rng(0)
    A_prev = rng.standard_normal(shape)
    W = rng.standard_normal((f, f, shape[3], n_C))
    b = rng.standard_normal((1, 1, 1, n_C))
    Z, cache = conv_forward(A_prev, W, b, stride=stride, pad=pad)
    dZ = rng.standard_normal(Z.shape)
    dA_prev, dW, db = conv_backward(dZ, cache)

    A_t = to_nchw(A_prev)
    W_t = torch.tensor(np.ascontiguousarray(W.transpose(3, 2, 0, 1)), requires_grad=True)
    b_t = torch.tensor(b.ravel(), requires_grad=True)
    Z_t = torch.nn.functional.conv2d(A_t, W_t, b_t, stride=stride, padding=pad)
    Z_t.backward(torch.tensor(np.ascontiguousarray(dZ.transpose(0, 3, 1, 2))))

    np.testing.assert_allclose(Z, from_nchw(Z_t), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dA_prev, from_nchw(A_t.grad), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dW, W_t.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-10)
    np.testing.assert_allclose(db.ravel(), b_t.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    ("shape", "f", "stride"), [((2, 7, 6, 3), 3, 1), ((2, 8, 9, 2), 2, 2), ((1, 9, 7, 2), 3, 2)]
)
def test_pool_matches_torch(shape, f, stride, mode, tied):
    rng = np.random.default_rng(1)
    A_prev = rng.standard_normal(shape)
    if tied:
        A_prev = np.maximum(np.round(A_prev), 0)
    A, cache = pool_forward(A_prev, f=f, stride=stride, mode=mode)
    dA = rng.standard_normal(A.shape)
    dA_prev = pool_backward(dA, cache)

    A_t = to_nchw(A_prev)
    pool = torch.nn.functional.max_pool2d if mode == "max" else torch.nn.functional.avg_pool2d
    out_t = pool(A_t, kernel_size=f, stride=stride)
    out_t.backward(torch.tensor(np.ascontiguousarray(dA.transpose(0, 3, 1, 2))))

    np.testing.assert_allclose(A, from_nchw(out_t), rtol=1e-12)
    np.testing.assert_allclose(dA_prev, from_nchw(A_t.grad), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_cross_entropy_matches_torch(scale):
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((5, 6)) * scale
    y = rng.integers(0, 5, size=6)
    cost, dZ = softmax_cross_entropy(Z, y)

    Z_t = torch.tensor(Z.T.copy(), requires_grad=True)
    loss_t = torch.nn.functional.cross_entropy(Z_t, torch.tensor(y))
    loss_t.backward()

    assert cost == pytest.approx(loss_t.item(), rel=1e-12)
    np.testing.assert_allclose(dZ, Z_t.grad.numpy().T, rtol=1e-10, atol=1e-15)
