"""MemoryAugmentedAttention: Z = X + MHA(X, M, M), written out head by head."""

import math
import os

import pytest
import torch

from sk_memsel.nn import MemoryAugmentedAttention

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available"
        ),
    ),
]


def reference(layer, x):
    """Multi-head attention from x to the memory, one head at a time."""
    mha = layer.attention
    units, heads = layer.units, layer.num_heads
    d = units // heads
    w_q, w_k, w_v = mha.in_proj_weight.split(units)
    b_q, b_k, b_v = mha.in_proj_bias.split(units)
    memory = layer.memory
    q = x @ w_q.T + b_q  # (B, T, units)
    k = memory @ w_k.T + b_k  # (M, units), the same for every sample
    v = memory @ w_v.T + b_v
    contexts, weights = [], []
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        scores = q[..., cols] @ k[:, cols].T / math.sqrt(d)  # (B, T, M)
        attn = torch.softmax(scores, dim=-1)
        weights.append(attn)
        contexts.append(attn @ v[:, cols])
    context = torch.cat(contexts, -1) @ mha.out_proj.weight.T + mha.out_proj.bias
    return x + context, torch.stack(weights, 1)


def test_matches_head_by_head_formula():
    torch.manual_seed(0)
    layer = MemoryAugmentedAttention(units=12, memory_size=5, num_heads=3).double()
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    z, weights = layer(x, return_attention=True)
    ref_z, ref_weights = reference(layer, x)
    torch.testing.assert_close(z, ref_z)
    torch.testing.assert_close(weights, ref_weights)
    _, averaged = layer(x, return_attention=True, average_attn_weights=True)
    torch.testing.assert_close(averaged, ref_weights.mean(1))


def test_shapes():
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=2)
    x = torch.randn(3, 4, 8)
    assert layer(x).shape == (3, 4, 8)
    assert layer.memory.shape == (6, 8)
    z, w = layer(x, return_attention=True)
    assert w.shape == (3, 2, 4, 6)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, 4))


def test_each_step_attends_to_memory_only():
    torch.manual_seed(1)
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=2).eval()
    x = torch.randn(2, 5, 8)
    y = x.clone()
    y[:, 2] = torch.randn(2, 8)
    a, b = layer(x), layer(y)
    others = [0, 1, 3, 4]
    torch.testing.assert_close(a[:, others], b[:, others], rtol=0, atol=0)
    assert not torch.allclose(a[:, 2], b[:, 2])


def test_batch_elements_do_not_leak():
    torch.manual_seed(2)
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=4).eval()
    x = torch.randn(3, 5, 8)
    y = x.clone()
    y[0] = torch.randn(5, 8)
    torch.testing.assert_close(layer(x)[1:], layer(y)[1:], rtol=0, atol=0)


def test_memory_is_trained_and_shared_over_the_batch():
    torch.manual_seed(3)
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=2)
    x = torch.randn(3, 5, 8)
    layer(x).square().sum().backward()
    grad_all = layer.memory.grad.clone()
    # The gradient of a sum over samples is the sum of the per-sample ones.
    per_sample = torch.zeros_like(grad_all)
    for b in range(3):
        layer.memory.grad = None
        layer(x[b : b + 1]).square().sum().backward()
        per_sample += layer.memory.grad
    torch.testing.assert_close(grad_all, per_sample, rtol=1e-5, atol=1e-6)
    assert grad_all.abs().sum() > 0


def test_gradcheck():
    torch.manual_seed(4)
    layer = MemoryAugmentedAttention(units=4, memory_size=3, num_heads=2).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    assert torch.autograd.gradcheck(
        lambda m: torch.func.functional_call(layer, {"memory": m}, (x,)),
        (layer.memory.detach().clone().requires_grad_(),),
    )


def test_dropout_only_in_training():
    torch.manual_seed(5)
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=2, dropout=0.5)
    x = torch.randn(2, 5, 8)
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x))
    layer.train()
    assert not torch.allclose(layer(x), layer(x))


def test_heads_must_divide_units():
    with pytest.raises(ValueError, match="units=10 must be divisible by num_heads=3"):
        MemoryAugmentedAttention(units=10, memory_size=4, num_heads=3)
    with pytest.raises(ValueError, match="key_dim"):
        MemoryAugmentedAttention(units=10, memory_size=4, num_heads=4)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"units": 0}, "units must be a positive integer"),
        ({"memory_size": 0}, "memory_size must be a positive integer"),
        ({"num_heads": -1}, "num_heads must be a positive integer"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\)"),
    ],
)
def test_bad_arguments(kwargs, match):
    params = {"units": 8, "memory_size": 4, "num_heads": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        MemoryAugmentedAttention(**params)


def test_bad_input_shape():
    layer = MemoryAugmentedAttention(units=8, memory_size=4, num_heads=2)
    with pytest.raises(ValueError, match=r"shape \(batch, time, 8\), got \(3, 4, 6\)"):
        layer(torch.randn(3, 4, 6))
    with pytest.raises(ValueError, match=r"got \(4, 8\)"):
        layer(torch.randn(4, 8))


@pytest.mark.parametrize("device", DEVICES)
def test_on_device(device):
    torch.manual_seed(6)
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=2).eval()
    x = torch.randn(2, 5, 8)
    expected = layer(x)
    layer.to(device)
    torch.testing.assert_close(layer(x.to(device)).cpu(), expected)


@pytest.mark.parametrize(
    "backend",
    [
        "eager",
        pytest.param(
            "inductor",
            marks=[
                pytest.mark.slow,
                pytest.mark.skipif(
                    os.environ.get("SK_MEMSEL_COMPILE_TESTS") != "1",
                    reason="inductor compile is slow; set SK_MEMSEL_COMPILE_TESTS=1",
                ),
            ],
        ),
    ],
)
def test_compiles(backend):
    torch.manual_seed(7)
    layer = MemoryAugmentedAttention(units=8, memory_size=6, num_heads=2).eval()
    compiled = torch.compile(layer, fullgraph=True, backend=backend)
    x = torch.randn(2, 5, 8)
    z, w = layer(x, return_attention=True)
    cz, cw = compiled(x, return_attention=True)
    torch.testing.assert_close(cz, z)
    torch.testing.assert_close(cw, w)
