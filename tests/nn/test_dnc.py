"""MemoryAccess and DNC: one step against a per-sample reference, state, batches."""

import os

import pytest
import torch

from sk_memsel.nn import DNC, AccessState, DNCState, MemoryAccess, TemporalLinkageState

EPS = 1e-6
# Compiling with inductor takes 20-60 s per module on a 2-core CPU: the default
# run checks full-graph capture (backend="eager") and one inductor compile in
# test_memory_selector.py; set SK_MEMSEL_COMPILE_TESTS=1 to run them all.
SLOW = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("SK_MEMSEL_COMPILE_TESTS") != "1",
        reason="inductor compile is slow; set SK_MEMSEL_COMPILE_TESTS=1",
    ),
]
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available"
        ),
    ),
]


def _cosine(memory, key, beta):
    """Content weighting of one key over the slots of one memory (N, W).

    ``beta`` is the strength after the softplus.
    """
    norms = torch.sqrt((memory * memory).sum(1) + EPS) * torch.sqrt(
        (key * key).sum() + EPS
    )
    return torch.softmax(beta * (memory @ key) / norms, dim=0)


def _allocation(usage):
    usage = EPS + (1 - EPS) * usage
    alloc = torch.zeros_like(usage)
    prod = 1.0
    for n in torch.argsort(usage).tolist():
        alloc[n] = (1 - usage[n]) * prod
        prod = prod * usage[n]
    return alloc


def reference_step(access, inputs, prev):
    """One MemoryAccess step for each sample on its own, from the paper."""
    # the interface vector, cut into its parts
    c = access._read_inputs(access.interface(inputs))
    for name in ("write_strengths", "read_strengths"):
        c[name] = torch.nn.functional.softplus(c[name])
    wr, r = access.num_writes, access.num_reads
    out_words, memories, reads, writes, links, precs, usages = (
        [],
        [],
        [],
        [],
        [],
        [],
        [],
    )
    for b in range(inputs.shape[0]):
        # usage
        not_written = torch.ones(access.memory_size, dtype=inputs.dtype)
        for i in range(wr):
            not_written = not_written * (1 - prev.write_weights[b, i])
        written = 1 - not_written
        u = prev.usage[b] + written - prev.usage[b] * written
        for j in range(r):
            u = u * (1 - c["free_gate"][b, j] * prev.read_weights[b, j])
        # write weights: allocation head after head, then gates
        alloc_usage, ws = u, []
        for i in range(wr):
            a = _allocation(alloc_usage)
            ga, gw = c["allocation_gate"][b, i], c["write_gate"][b, i]
            alloc_usage = alloc_usage + (1 - alloc_usage) * ga * gw * a
            content = _cosine(
                prev.memory[b], c["write_keys"][b, i], c["write_strengths"][b, i]
            )
            ws.append(gw * (ga * a + (1 - ga) * content))
        # erase and write
        memory = prev.memory[b].clone()
        keep = torch.ones_like(memory)
        for i in range(wr):
            keep = keep * (1 - torch.outer(ws[i], c["erase_vectors"][b, i]))
        memory = memory * keep
        for i in range(wr):
            memory = memory + torch.outer(ws[i], c["write_vectors"][b, i])
        # links
        link_b, prec_b = [], []
        for i in range(wr):
            w, p = ws[i], prev.linkage.precedence_weights[b, i]
            L = (1 - w[:, None] - w[None, :]) * prev.linkage.link[b, i] + torch.outer(
                w, p
            )
            L = L * (1 - torch.eye(len(w), dtype=w.dtype))
            link_b.append(L)
            prec_b.append((1 - w.sum()) * p + w)
        # reads
        read_b = []
        for j in range(r):
            mode = c["read_mode"][b, j]
            rw = mode[2 * wr] * _cosine(
                memory, c["read_keys"][b, j], c["read_strengths"][b, j]
            )
            for i in range(wr):
                rw = rw + mode[i] * (link_b[i].T @ prev.read_weights[b, j])
                rw = rw + mode[wr + i] * (link_b[i] @ prev.read_weights[b, j])
            read_b.append(rw)
        read_b = torch.stack(read_b)
        out_words.append(read_b @ memory)
        memories.append(memory)
        reads.append(read_b)
        writes.append(torch.stack(ws))
        links.append(torch.stack(link_b))
        precs.append(torch.stack(prec_b))
        usages.append(u)
    s = torch.stack
    state = AccessState(
        s(memories),
        s(reads),
        s(writes),
        TemporalLinkageState(s(links), s(precs)),
        s(usages),
    )
    return s(out_words), state


def _assert_states_close(a, b, **kw):
    for x, y in zip(
        torch.utils._pytree.tree_leaves(a),
        torch.utils._pytree.tree_leaves(b),
        strict=True,
    ):
        torch.testing.assert_close(x, y, **kw)


@pytest.mark.parametrize("num_reads,num_writes", [(1, 1), (3, 2)])
def test_access_matches_reference_over_steps(num_reads, num_writes):
    torch.manual_seed(0)
    access = MemoryAccess(6, 4, num_reads, num_writes, input_size=5).double()
    state = access.initial_state(3, dtype=torch.float64)
    ref_state = state
    for _ in range(4):
        x = torch.randn(3, 5, dtype=torch.float64)
        words, state = access(x, state)
        ref_words, ref_state = reference_step(access, x, ref_state)
        torch.testing.assert_close(words, ref_words)
        _assert_states_close(state, ref_state)


def test_access_state_shapes_and_missing_state():
    access = MemoryAccess(
        memory_size=7, word_size=3, num_reads=2, num_writes=3, input_size=4
    )
    x = torch.randn(5, 4)
    words, state = access(x, None)
    assert words.shape == (5, 2, 3)
    assert isinstance(state, AccessState)
    assert state.memory.shape == (5, 7, 3)
    assert state.read_weights.shape == (5, 2, 7)
    assert state.write_weights.shape == (5, 3, 7)
    assert state.linkage.link.shape == (5, 3, 7, 7)
    assert state.linkage.precedence_weights.shape == (5, 3, 7)
    assert state.usage.shape == (5, 7)
    words_zero, state_zero = access(x, access.initial_state(5))
    torch.testing.assert_close(words, words_zero)
    _assert_states_close(state, state_zero)


def test_access_usage_and_weights_stay_valid():
    torch.manual_seed(1)
    access = MemoryAccess(8, 4, 2, 2, input_size=6)
    state = None
    for _ in range(20):
        _, state = access(torch.randn(4, 6) * 3, state)
        assert state.usage.min() >= 0 and state.usage.max() <= 1
        assert (state.write_weights.sum(-1) <= 1 + 1e-5).all()
        assert (state.read_weights.sum(-1) <= 1 + 1e-5).all()
        diag = state.linkage.link.diagonal(dim1=-2, dim2=-1)
        assert torch.count_nonzero(diag) == 0


def test_access_accepts_a_state_without_linkage():
    # The reference text starts from linkage=None; that means zero links.
    access = MemoryAccess(5, 3, 2, 2, input_size=4)
    x = torch.randn(2, 4)
    words, state = access(x, access.initial_state(2)._replace(linkage=None))
    expected_words, expected_state = access(x, None)
    torch.testing.assert_close(words, expected_words)
    _assert_states_close(state, expected_state)


def test_access_lazy_input_size():
    access = MemoryAccess(memory_size=5, word_size=3)
    words, _ = access(torch.randn(2, 9))
    assert words.shape == (2, 1, 3)
    assert access.interface.in_features == 9


def test_access_gradients_reach_every_parameter():
    torch.manual_seed(2)
    access = MemoryAccess(6, 4, 2, 2, input_size=5)
    state, total = None, 0.0
    for _ in range(3):  # free gates act from the second step on
        words, state = access(torch.randn(3, 5), state)
        total = total + words.square().sum()
    total.backward()
    grad = access.interface.weight.grad
    assert torch.isfinite(grad).all()
    # Every part of the interface vector (each row block) gets a gradient.
    assert (grad.abs().sum(1) > 0).all()


def test_access_batch_elements_do_not_leak():
    torch.manual_seed(3)
    access = MemoryAccess(6, 4, 2, 2, input_size=5)
    x = torch.randn(3, 4, 5)
    y = x.clone()
    y[0] = torch.randn(4, 5)
    sa = sb = None
    for t in range(4):
        wa, sa = access(x[:, t], sa)
        wb, sb = access(y[:, t], sb)
        torch.testing.assert_close(wa[1:], wb[1:], rtol=0, atol=0)
    assert not torch.allclose(wa[0], wb[0])


def test_access_bad_arguments():
    with pytest.raises(ValueError, match="memory_size must be a positive integer"):
        MemoryAccess(memory_size=0)
    with pytest.raises(ValueError, match="num_writes must be a positive integer"):
        MemoryAccess(num_writes=1.5)
    with pytest.raises(ValueError, match="input_size must be a positive integer"):
        MemoryAccess(input_size=-3)
    access = MemoryAccess(4, 2, input_size=3)
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, 3\), got"):
        access(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"got \(2, 5, 3\)"):
        access(torch.zeros(2, 5, 3))
    with pytest.raises(ValueError, match="prev_state.memory must have shape"):
        access(torch.zeros(2, 3), access.initial_state(3))


# --- DNC ---------------------------------------------------------------------


def _dnc(**kw):
    params = {
        "input_size": 3,
        "hidden_size": 8,
        "output_size": 2,
        "memory_size": 6,
        "word_size": 4,
        "num_reads": 2,
        "num_writes": 1,
    }
    params.update(kw)
    return DNC(**params)


def test_dnc_matches_manual_loop():
    torch.manual_seed(4)
    dnc = _dnc(num_writes=2).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    outputs, state = dnc(x)
    h = c = torch.zeros(2, 8, dtype=torch.float64)
    read = torch.zeros(2, 8, dtype=torch.float64)
    access_state = None
    for t in range(5):
        h, c = dnc.controller(torch.cat([x[:, t], read], -1), (h, c))
        words, access_state = dnc.access(h, access_state)
        read = words.reshape(2, -1)
        y = dnc.output(torch.cat([h, read], -1))
        torch.testing.assert_close(outputs[:, t], y)
    torch.testing.assert_close(state.read_words.reshape(2, -1), read)
    _assert_states_close(state.access, access_state)


def _nontrivial_state(dnc, batch, seed):
    """A DNC state after a few steps, as fresh leaves that require grad."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, dnc.input_size, generator=g, dtype=torch.float64)
    with torch.no_grad():
        _, state = dnc(x)
    return torch.utils._pytree.tree_map(lambda t: t.clone().requires_grad_(), state)


@pytest.mark.parametrize("num_writes,clip_value", [(1, None), (2, 0.3)])
def test_dnc_gradients_match_the_step_by_step_loop(num_writes, clip_value):
    # The whole-sequence Function against autograd through nn.LSTMCell and
    # MemoryAccess step by step: gradients of the inputs, of the initial
    # state and of every parameter, with a loss on the outputs and on every
    # part of the final state.
    torch.manual_seed(11)
    dnc = _dnc(num_writes=num_writes, clip_value=clip_value).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    state = _nontrivial_state(dnc, 2, seed=12)
    leaves = [x, *torch.utils._pytree.tree_leaves(state), *dnc.parameters()]

    def loss(outputs, final):
        g = torch.Generator().manual_seed(13)
        total = 0.0
        for t in [outputs, *torch.utils._pytree.tree_leaves(final)]:
            total = total + (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum()
        return total

    outputs, final = dnc(x, state)
    got = torch.autograd.grad(loss(outputs, final), leaves)

    (h, c), access_state, read = state
    read = read.flatten(1)
    steps = []
    for t in range(x.shape[1]):
        h, c = dnc.controller(torch.cat([x[:, t], read], -1), (h, c))
        drive = h if clip_value is None else h.clamp(-clip_value, clip_value)
        words, access_state = dnc.access(drive, access_state)
        read = words.flatten(1)
        steps.append(dnc.output(torch.cat([h, read], -1)))
    ref_final = DNCState((h, c), access_state, words)
    ref_outputs = torch.stack(steps, 1)
    torch.testing.assert_close(outputs, ref_outputs)
    expected = torch.autograd.grad(loss(ref_outputs, ref_final), leaves)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_dnc_gradcheck():
    # Finite differences for the inputs and the initial state.
    torch.manual_seed(14)
    dnc = _dnc(num_writes=2, memory_size=4, clip_value=0.5).double()
    x = torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True)
    state_leaves, spec = torch.utils._pytree.tree_flatten(
        _nontrivial_state(dnc, 2, seed=15)
    )

    def run(x, *leaves):
        outputs, final = dnc(x, torch.utils._pytree.tree_unflatten(leaves, spec))
        return (outputs, *torch.utils._pytree.tree_leaves(final))

    assert torch.autograd.gradcheck(run, (x, *state_leaves), fast_mode=True)


def test_dnc_shapes_and_defaults():
    dnc = DNC(input_size=3, hidden_size=8)
    outputs, state = dnc(torch.randn(4, 7, 3))
    assert outputs.shape == (4, 7, 8)  # output_size defaults to hidden_size
    assert isinstance(state, DNCState)
    assert state.controller[0].shape == state.controller[1].shape == (4, 8)
    assert state.access.linkage.link.shape == (4, 1, 32, 32)


@pytest.mark.parametrize("clip_value", [None, 0.1])
def test_dnc_state_carried_across_calls(clip_value):
    torch.manual_seed(5)
    dnc = _dnc(num_writes=2, clip_value=clip_value).double()
    x = torch.randn(3, 8, 3, dtype=torch.float64)
    whole, whole_state = dnc(x)
    first, state = dnc(x[:, :5])
    second, halves_state = dnc(x[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    _assert_states_close(halves_state, whole_state)


def test_dnc_detached_state_continues_without_graph():
    dnc = _dnc()
    _, state = dnc(torch.randn(2, 3, 3))
    detached = state.detach()
    assert isinstance(detached, DNCState)
    assert isinstance(detached.access.linkage, TemporalLinkageState)
    assert all(not t.requires_grad for t in torch.utils._pytree.tree_leaves(detached))
    out, _ = dnc(torch.randn(2, 3, 3), detached)
    out.sum().backward()


def test_dnc_batch_elements_do_not_leak():
    torch.manual_seed(6)
    dnc = _dnc(num_writes=2).eval()
    x = torch.randn(3, 6, 3)
    y = x.clone()
    y[0] = torch.randn(6, 3)
    out_x, _ = dnc(x)
    out_y, _ = dnc(y)
    torch.testing.assert_close(out_x[1:], out_y[1:], rtol=0, atol=0)
    assert not torch.allclose(out_x[0], out_y[0])


def test_dnc_trains_every_parameter():
    torch.manual_seed(7)
    dnc = _dnc()
    outputs, _ = dnc(torch.randn(2, 4, 3))
    outputs.square().sum().backward()
    for name, p in dnc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_dnc_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        DNC(3, 0)
    with pytest.raises(ValueError, match="clip_value must be positive"):
        DNC(3, 4, clip_value=-1.0)
    with pytest.raises(ValueError, match="clip_value must be positive"):
        DNC(3, 4, clip_value="20")
    dnc = _dnc()
    with pytest.raises(ValueError, match=r"x must have shape \(batch, time, 3\), got"):
        dnc(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="at least one time step"):
        dnc(torch.zeros(2, 0, 3))
    _, state = dnc(torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="state is for a batch of 2"):
        dnc(torch.zeros(3, 1, 3), state)


@pytest.mark.parametrize("device", DEVICES)
def test_dnc_on_device(device):
    torch.manual_seed(8)
    dnc = _dnc(num_writes=2).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    expected, _ = dnc(x)
    dnc.to(device)
    out, state = dnc(x.to(device))
    assert state.access.linkage.link.device.type == torch.device(device).type
    torch.testing.assert_close(out.cpu(), expected)
    out.sum().backward()


@pytest.mark.parametrize(
    "backend",
    [pytest.param("eager", marks=SLOW), pytest.param("inductor", marks=SLOW)],
)
def test_access_compiles(backend):
    # fullgraph: the whole step is captured, with no graph break. The default
    # run covers the same step inside test_dnc_compiles[eager].
    torch.manual_seed(9)
    access = MemoryAccess(6, 4, 2, 2, input_size=5)
    compiled = torch.compile(access, fullgraph=True, backend=backend)
    state = access.initial_state(3)
    x = torch.randn(3, 5)
    words, new_state = access(x, state)
    cwords, cstate = compiled(x, state)
    torch.testing.assert_close(cwords, words)
    _assert_states_close(cstate, new_state)


@pytest.mark.parametrize("backend", ["eager", pytest.param("inductor", marks=SLOW)])
def test_dnc_compiles(backend):
    # backend="eager" checks that dynamo captures the whole sequence loop
    # (with the autograd Functions) in one graph, in seconds; inductor also
    # generates code, which takes minutes on two cores.
    torch.manual_seed(10)
    dnc = _dnc(num_writes=2)
    compiled = torch.compile(dnc, fullgraph=True, backend=backend)
    x = torch.randn(2, 2, 3)
    out, state = dnc(x)
    cout, cstate = compiled(x)
    torch.testing.assert_close(cout, out)
    _assert_states_close(cstate, state)


@pytest.mark.parametrize("backend", [pytest.param("aot_eager", marks=SLOW)])
def test_dnc_trains_under_compile(backend):
    # The hand-written backward pass through time is traced by the compiler
    # (aot_eager traces forward and backward without generating code).
    torch.manual_seed(16)
    dnc = _dnc(num_writes=2, clip_value=1.0)
    x = torch.randn(2, 3, 3)
    outputs, _ = dnc(x)
    expected = torch.autograd.grad(outputs.square().sum(), list(dnc.parameters()))
    compiled = torch.compile(dnc, fullgraph=True, backend=backend)
    outputs, _ = compiled(x)
    got = torch.autograd.grad(outputs.square().sum(), list(dnc.parameters()))
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
