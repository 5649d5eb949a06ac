"""The DNC's fused path against its readable path, and its hand-written
backward passes against finite differences.

The readable path (``fused=False``) composes CosineWeights, Freeness,
TemporalLinkage and erase_and_write under plain autograd; the fused path
(the default) runs sk_memsel/nn/_dnc_fused.py. Both read the same
parameters, so a deep copy with the flag flipped is the same model.
"""

import copy
import pickle

import pytest
import torch

from sk_memsel.nn import (
    DNC,
    AccessState,
    CosineWeights,
    Freeness,
    MemoryAccess,
    TemporalLinkage,
    TemporalLinkageState,
    _dnc_fused,
)

leaves_of = torch.utils._pytree.tree_leaves


def _rand_weights(*shape, generator, total=1.0):
    """Random weightings over the last axis that sum to ``total`` or less."""
    w = torch.rand(*shape, generator=generator, dtype=torch.float64)
    return total * w / (w.sum(-1, keepdim=True) + 0.5)


def _readable(module):
    """A copy of a MemoryAccess or DNC that runs the readable path."""
    other = copy.deepcopy(module)
    access = other.access if isinstance(other, DNC) else other
    access.fused = False
    return other


def _weighted_sum(tensors, seed):
    """A loss that reaches every entry of every tensor, with fixed weights."""
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for t in tensors:
        total = total + (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum()
    return total


def _assert_all_close(got, expected):
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def _assert_same_values_and_gradients(fused, readable, run, seed):
    """``run(module)`` returns (values, leaves); compare both paths on them."""
    results = []
    for module in (fused, readable):
        values, leaves = run(module)
        grads = torch.autograd.grad(_weighted_sum(values, seed), leaves)
        results.append((values, grads))
    (got, got_grads), (expected, expected_grads) = results
    _assert_all_close(got, expected)
    _assert_all_close(got_grads, expected_grads)


def _step_inputs(access, batch, seed):
    """Float64 inputs of one fused step, from a random non-trivial state."""
    g = torch.Generator().manual_seed(seed)
    n, w = access.memory_size, access.word_size
    r, wr = access.num_reads, access.num_writes
    return (
        torch.randn(batch, access.interface_size, generator=g, dtype=torch.float64),
        torch.randn(batch, n, w, generator=g, dtype=torch.float64),
        _rand_weights(batch, r, n, generator=g),
        _rand_weights(batch, wr, n, generator=g),
        torch.rand(batch, wr, n, n, generator=g, dtype=torch.float64) / n,
        _rand_weights(batch, wr, n, generator=g),
        # distinct usages, so that finite differences do not reorder the slots
        (torch.randperm(batch * n, generator=g).double() / (batch * n) + 0.01).view(
            batch, n
        ),
    )


def _random_state(access, batch, seed):
    """A non-trivial AccessState as leaves that require grad."""
    _, memory, read, write, link, precedence, usage = _step_inputs(access, batch, seed)
    state = AccessState(
        memory, read, write, TemporalLinkageState(link, precedence), usage
    )
    return torch.utils._pytree.tree_map(lambda t: t.requires_grad_(), state)


# --- fused against readable ----------------------------------------------------

CONFIGS = [  # (num_reads, num_writes, batch)
    (1, 1, 1),
    (1, 1, 3),
    (3, 1, 2),
    (2, 2, 3),
    (1, 3, 2),
    (4, 2, 2),
]


@pytest.mark.parametrize("num_reads,num_writes,batch", CONFIGS)
def test_access_fused_equals_readable(num_reads, num_writes, batch):
    # Three steps from a non-trivial state: every output, then the gradients
    # of the inputs, of the initial state and of the parameters.
    torch.manual_seed(30)
    fused = MemoryAccess(6, 4, num_reads, num_writes, input_size=5).double()
    readable = _readable(fused)
    x = torch.randn(batch, 3, 5, dtype=torch.float64, requires_grad=True)
    start = _random_state(fused, batch, seed=31)

    def run(access):
        state, outputs = start, []
        for t in range(x.shape[1]):
            words, state = access(x[:, t], state)
            outputs.append(words)
        outputs.extend(leaves_of(state))
        return outputs, [x, *leaves_of(start), *access.parameters()]

    _assert_same_values_and_gradients(fused, readable, run, seed=32)


@pytest.mark.parametrize(
    "num_reads,num_writes,batch,clip_value",
    [(1, 1, 1, None), (2, 1, 3, 0.3), (3, 2, 2, None), (2, 3, 3, 0.5)],
)
def test_dnc_fused_equals_readable(num_reads, num_writes, batch, clip_value):
    torch.manual_seed(33)
    kw = {"memory_size": 5, "word_size": 3, "clip_value": clip_value}
    fused = DNC(3, 6, 2, num_reads=num_reads, num_writes=num_writes, **kw).double()
    readable = _readable(fused)
    x = torch.randn(batch, 4, 3, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        warm = fused(torch.randn(batch, 2, 3, dtype=torch.float64))[1]
    start = torch.utils._pytree.tree_map(lambda t: t.clone().requires_grad_(), warm)

    def run(dnc):
        outputs, final = dnc(x, start)
        return [outputs, *leaves_of(final)], [x, *leaves_of(start), *dnc.parameters()]

    _assert_same_values_and_gradients(fused, readable, run, seed=34)


def test_fused_step_equals_autograd_through_the_formulas():
    # The same step differentiated by autograd through the plain operations
    # of the addressing modules (which have their own gradchecks).
    torch.manual_seed(21)
    access = MemoryAccess(6, 4, 3, 2, input_size=5).double()
    interface = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    prev = _random_state(access, 3, seed=22)
    leaves = [interface, *leaves_of(prev)]
    weights = torch.randn(3, 3, 4, dtype=torch.float64)

    def loss(words, state):
        return (words * weights).sum() + state.linkage.link.sum() + state.usage.sum()

    words, state = access(interface, prev)
    fused = torch.autograd.grad(loss(words, state), leaves)
    ref_words, ref_state = _readable(access)(interface, prev)
    torch.testing.assert_close(words, ref_words)
    torch.testing.assert_close(
        state.linkage.precedence_weights, ref_state.linkage.precedence_weights
    )
    expected = torch.autograd.grad(loss(ref_words, ref_state), leaves)
    _assert_all_close(fused, expected)


def test_readable_path_has_second_order_gradients():
    # The fused Functions are once_differentiable; the readable path is not.
    torch.manual_seed(35)
    dnc = _readable(DNC(3, 5, 2, memory_size=4, word_size=3, num_writes=2)).double()
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(dnc(x)[0].square().sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(grad.square().sum(), x)
    assert torch.isfinite(second).all() and second.abs().sum() > 0


def test_every_submodule_is_used_by_the_readable_path():
    access = _readable(MemoryAccess(5, 3, 2, 2, input_size=4))
    called = set()
    for name, module in access.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: called.add(name))
    state = None
    for _ in range(2):
        _, state = access(torch.randn(2, 4), state)
    assert called == {name for name, _ in access.named_children()}


def test_modules_pickled_before_the_flag_run_fused():
    # A MemoryAccess pickled by an older version has no ``fused`` attribute.
    dnc = DNC(3, 4, memory_size=4, word_size=2)
    del dnc.access.__dict__["fused"]
    loaded = pickle.loads(pickle.dumps(dnc))
    assert loaded.access.fused is True
    x = torch.randn(2, 3, 3)
    torch.testing.assert_close(loaded(x)[0], dnc(x)[0], rtol=0, atol=0)


@pytest.mark.parametrize("fused", [True, False])
def test_no_grad_run_equals_recorded_run(fused):
    # Without autograd the fused forward runs outside its Functions.
    torch.manual_seed(36)
    dnc = DNC(3, 6, 2, memory_size=5, word_size=3, num_reads=2, num_writes=2)
    dnc.access.fused = fused
    x = torch.randn(2, 4, 3)
    with torch.no_grad():
        plain, plain_state = dnc(x)
    tracked, tracked_state = dnc(x)
    assert tracked.requires_grad
    torch.testing.assert_close(tracked.detach(), plain, rtol=0, atol=0)
    for a, b in zip(leaves_of(tracked_state), leaves_of(plain_state), strict=True):
        torch.testing.assert_close(a.detach(), b, rtol=0, atol=0)


# --- hand-written backward passes, by finite differences ---------------------------


@pytest.mark.parametrize("num_reads,num_writes", [(1, 1), (3, 1), (2, 2), (1, 3)])
def test_fused_step_gradcheck(num_reads, num_writes):
    # Every output of the step against every input, by finite differences.
    access = MemoryAccess(5, 3, num_reads, num_writes, input_size=2)
    inputs = [t.requires_grad_() for t in _step_inputs(access, 2, seed=20)]

    def step(*args):
        return _dnc_fused._AccessStep.apply(access._sizes, *args)

    assert torch.autograd.gradcheck(step, inputs, fast_mode=True)

    # Only the read words used: the other outputs get no gradient (None).
    def words_only(*args):
        return step(*args)[0]

    assert torch.autograd.gradcheck(words_only, inputs, fast_mode=True)


class _LinkUpdateAndRead(torch.autograd.Function):
    """The fused kernel's link update and directional reads, on their own."""

    @staticmethod
    def forward(ctx, prev_link, write_weights, prev_precedence, reads):
        link, directional = _dnc_fused._link_forward(
            prev_link, write_weights, prev_precedence, reads
        )
        ctx.save_for_backward(prev_link, write_weights, prev_precedence, reads, link)
        return link, directional

    @staticmethod
    def backward(ctx, grad_link, grad_directional):
        return _dnc_fused._link_backward(
            grad_link, grad_directional, *ctx.saved_tensors, ctx.needs_input_grad
        )


def _link_update_and_read(prev_link, write_weights, prev_precedence, reads):
    """New link (B, Wr, N, N) and directional reads (B, R, 2 Wr, N)."""
    args = (prev_link, write_weights, prev_precedence, reads)
    if any(t.requires_grad for t in args):
        return _LinkUpdateAndRead.apply(*args)
    return _dnc_fused._link_forward(*args)


class _Allocation(torch.autograd.Function):
    """The fused kernel's allocation of one write head, on its own."""

    @staticmethod
    def forward(ctx, usage):
        allocation, *saved = _dnc_fused._allocation_forward(usage)
        ctx.save_for_backward(*saved)
        return allocation

    @staticmethod
    def backward(ctx, grad):
        return _dnc_fused._allocation_backward(grad, *ctx.saved_tensors)


class _CosineWeights(torch.autograd.Function):
    """The fused kernel's content lookup (strengths after softplus)."""

    @staticmethod
    def forward(ctx, memory, keys, strengths):
        weights, *saved = _dnc_fused._cosine_forward(memory, keys, strengths)
        ctx.save_for_backward(memory, keys, weights, *saved)
        return weights

    @staticmethod
    def backward(ctx, grad):
        return _dnc_fused._cosine_backward(grad, *ctx.saved_tensors)


@pytest.mark.parametrize("num_writes,num_reads", [(1, 1), (2, 3)])
def test_link_update_and_reads_gradcheck(num_writes, num_reads):
    g = torch.Generator().manual_seed(15)
    inputs = (
        torch.rand(2, num_writes, 4, 4, generator=g, dtype=torch.float64) / 4,
        _rand_weights(2, num_writes, 4, generator=g),
        _rand_weights(2, num_writes, 4, generator=g),
        _rand_weights(2, num_reads, 4, generator=g),
    )
    assert torch.autograd.gradcheck(
        _link_update_and_read, tuple(t.requires_grad_() for t in inputs)
    )


def test_allocation_and_cosine_backward_gradcheck():
    g = torch.Generator().manual_seed(18)
    # distinct usages, so that finite differences do not reorder the slots
    usage = (torch.randperm(12, generator=g).double() / 12 + 0.01).view(2, 6)
    assert torch.autograd.gradcheck(_Allocation.apply, (usage.requires_grad_(),))
    cosine_inputs = (
        torch.randn(2, 5, 3, generator=g, dtype=torch.float64),
        torch.randn(2, 4, 3, generator=g, dtype=torch.float64),
        torch.rand(2, 4, generator=g, dtype=torch.float64) * 3,
    )
    assert torch.autograd.gradcheck(
        _CosineWeights.apply, tuple(t.requires_grad_() for t in cosine_inputs)
    )


def test_link_update_and_reads_match_the_public_operations():
    g = torch.Generator().manual_seed(16)
    linkage = TemporalLinkage(5, 2)
    prev = linkage(_rand_weights(3, 2, 5, generator=g), None)
    prev = linkage(_rand_weights(3, 2, 5, generator=g), prev)
    w = _rand_weights(3, 2, 5, generator=g)
    reads = _rand_weights(3, 4, 5, generator=g)
    link, directional = _link_update_and_read(prev.link, w, prev[1], reads)
    state = linkage(w, prev)
    torch.testing.assert_close(link, state.link)
    backward = linkage.directional_read_weights(state.link, reads, is_forward=False)
    forward = linkage.directional_read_weights(state.link, reads, is_forward=True)
    torch.testing.assert_close(directional, torch.cat([backward, forward], dim=2))


@pytest.mark.parametrize(
    "op",
    [
        lambda m, k, s, u, w, p, r: CosineWeights(3, 4)(m, k, s),
        lambda m, k, s, u, w, p, r: Freeness(5).write_allocation_weights(
            usage=u, write_gates=s[:, :2], num_writes=2
        ),
        lambda m, k, s, u, w, p, r: _link_update_and_read(
            torch.zeros(2, 2, 5, 5, dtype=m.dtype), w, p, r
        )[1],
    ],
    ids=["cosine", "allocation", "link"],
)
def test_no_grad_path_equals_grad_path(op):
    # Without autograd the same maths runs outside the autograd Functions.
    g = torch.Generator().manual_seed(17)
    args = (
        torch.randn(2, 5, 4, generator=g, dtype=torch.float64),
        torch.randn(2, 3, 4, generator=g, dtype=torch.float64),
        torch.rand(2, 3, generator=g, dtype=torch.float64),
        torch.rand(2, 5, generator=g, dtype=torch.float64),
        _rand_weights(2, 2, 5, generator=g),
        _rand_weights(2, 2, 5, generator=g),
        _rand_weights(2, 3, 5, generator=g),
    )
    with torch.no_grad():
        plain = op(*args)
    tracked = op(*(a.clone().requires_grad_() for a in args))
    assert tracked.requires_grad
    torch.testing.assert_close(tracked.detach(), plain, rtol=0, atol=0)


@pytest.mark.parametrize("fused", [True, False])
def test_an_empty_batch_runs_forward_and_backward(fused):
    # the fused backward reshaped with -1, which a batch of 0 cannot resolve
    access = MemoryAccess(5, 3, 2, 2, input_size=4, fused=fused)
    inputs = torch.randn(0, 4, requires_grad=True)
    out, state = access(inputs)
    out, state = access(inputs, state)
    out.sum().backward()
    assert out.shape == (0, 2, 3) and inputs.grad.shape == (0, 4)
    dnc = DNC(3, 8, 2, memory_size=5, word_size=3, fused=fused)
    y, _ = dnc(torch.randn(0, 2, 3))
    y.sum().backward()
    assert y.shape == (0, 2, 2)


def test_a_state_without_its_link_matrix_detaches():
    access = MemoryAccess(5, 3, 1, 1, input_size=4)
    _, state = access(torch.randn(2, 4))
    state = state._replace(linkage=None)  # accepted as the initial state
    detached = state.detach()
    assert detached.linkage is None
    assert not detached.memory.requires_grad
    out, _ = access(torch.randn(2, 4), detached)
    assert out.shape == (2, 1, 3)


def test_a_lazy_interface_keeps_the_width_of_its_first_call():
    access = MemoryAccess(5, 3, 1, 1)  # input_size learned at the first call
    access(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"shape \(batch, 4\), got \(2, 6\)"):
        access(torch.randn(2, 6))


@pytest.mark.parametrize("fused", [True, False])
def test_a_state_of_the_wrong_shape_or_dtype_is_named(fused):
    # the fused path checked only the memory: the rest failed in broadcasting
    access = MemoryAccess(5, 3, 2, 2, input_size=4, fused=fused)
    _, state = access(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"prev_state.usage must have shape \(2, 5\)"):
        access(torch.randn(2, 4), state._replace(usage=torch.rand(2, 4)))
    with pytest.raises(ValueError, match="prev_state.memory is torch.float32"):
        access.double()(torch.randn(2, 4, dtype=torch.float64), state)
    dnc = DNC(3, 8, 2, memory_size=5, word_size=3, fused=fused)
    _, dnc_state = dnc(torch.randn(2, 2, 3))
    wrong = dnc_state.access._replace(memory=torch.rand(2, 4, 3))
    with pytest.raises(ValueError, match="state.access.memory must have shape"):
        dnc(torch.randn(2, 2, 3), dnc_state._replace(access=wrong))
