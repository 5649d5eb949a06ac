"""DNC addressing operations against the paper's formulas, written out again.

The reference functions below use plain Python loops over lists of floats,
independently of the vectorised code under test.
"""

import math

import pytest
import torch

from sk_memsel.nn import (
    CosineWeights,
    Freeness,
    TemporalLinkage,
    TemporalLinkageState,
    erase_and_write,
)

EPS = 1e-6
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available"
        ),
    ),
]


def _rand_weights(*shape, generator, total=1.0):
    """Random weightings over the last axis that sum to ``total`` or less."""
    w = torch.rand(*shape, generator=generator, dtype=torch.float64)
    return total * w / (w.sum(-1, keepdim=True) + 0.5)


# --- reference implementations (loops over Python floats) -------------------


def ref_cosine_weights(memory, keys, strengths):
    out = []
    for mem_b, keys_b, str_b in zip(memory, keys, strengths, strict=True):
        heads = []
        for key, raw in zip(keys_b, str_b, strict=True):
            beta = math.log1p(math.exp(raw))
            key_norm = math.sqrt(sum(k * k for k in key) + EPS)
            logits = []
            for word in mem_b:
                dot = sum(k * m for k, m in zip(key, word, strict=True))
                word_norm = math.sqrt(sum(m * m for m in word) + EPS)
                logits.append(beta * dot / (key_norm * word_norm))
            top = max(logits)
            exps = [math.exp(v - top) for v in logits]
            heads.append([e / sum(exps) for e in exps])
        out.append(heads)
    return out


def ref_usage(write_weights, free_gate, read_weights, prev_usage):
    out = []
    for ww, fg, rw, u in zip(
        write_weights, free_gate, read_weights, prev_usage, strict=True
    ):
        new = []
        for n in range(len(u)):
            not_written = 1.0
            for head in ww:
                not_written *= 1.0 - head[n]
            written = 1.0 - not_written
            value = u[n] + written - u[n] * written
            for f, head in zip(fg, rw, strict=True):
                value *= 1.0 - f * head[n]
            new.append(value)
        out.append(new)
    return out


def ref_allocation_one(usage):
    usage = [EPS + (1 - EPS) * u for u in usage]
    order = sorted(range(len(usage)), key=lambda n: usage[n])
    alloc = [0.0] * len(usage)
    prod = 1.0
    for n in order:
        alloc[n] = (1.0 - usage[n]) * prod
        prod *= usage[n]
    return alloc


def ref_allocation(usage, write_gates):
    out = []
    for u, gates in zip(usage, write_gates, strict=True):
        u = list(u)
        heads = []
        for g in gates:
            a = ref_allocation_one(u)
            heads.append(a)
            u = [ui + (1 - ui) * g * ai for ui, ai in zip(u, a, strict=True)]
        out.append(heads)
    return out


def ref_linkage(write_weights, link, precedence):
    new_link, new_prec = [], []
    for ww_b, l_b, p_b in zip(write_weights, link, precedence, strict=True):
        links, precs = [], []
        for w, L, p in zip(ww_b, l_b, p_b, strict=True):
            n = len(w)
            links.append(
                [
                    [
                        0.0 if i == j else (1 - w[i] - w[j]) * L[i][j] + w[i] * p[j]
                        for j in range(n)
                    ]
                    for i in range(n)
                ]
            )
            total = sum(w)
            precs.append([(1 - total) * p[i] + w[i] for i in range(n)])
        new_link.append(links)
        new_prec.append(precs)
    return new_link, new_prec


def ref_directional(link, read_weights, forward):
    out = []
    for l_b, r_b in zip(link, read_weights, strict=True):
        heads = []
        for r in r_b:
            per_write = []
            for L in l_b:
                n = len(r)
                if forward:  # (L r)[i] = sum_j L[i][j] r[j]
                    per_write.append(
                        [sum(L[i][j] * r[j] for j in range(n)) for i in range(n)]
                    )
                else:  # (L^T r)[i] = sum_j L[j][i] r[j]
                    per_write.append(
                        [sum(L[j][i] * r[j] for j in range(n)) for i in range(n)]
                    )
            heads.append(per_write)
        out.append(heads)
    return out


def ref_erase_and_write(memory, address, erase, values):
    out = []
    for m_b, a_b, e_b, v_b in zip(memory, address, erase, values, strict=True):
        rows = []
        for n, row in enumerate(m_b):
            new = []
            for k, m in enumerate(row):
                keep = 1.0
                add = 0.0
                for a, e, v in zip(a_b, e_b, v_b, strict=True):
                    keep *= 1.0 - a[n] * e[k]
                    add += a[n] * v[k]
                new.append(m * keep + add)
            rows.append(new)
        out.append(rows)
    return out


def _close(actual, expected, atol=1e-10):
    expected = torch.tensor(expected, dtype=actual.dtype, device=actual.device)
    torch.testing.assert_close(actual, expected, atol=atol, rtol=1e-8)


# --- CosineWeights -------------------------------------------------------------


def test_cosine_weights_hand_checked():
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], dtype=torch.float64)
    keys = torch.tensor([[[2.0, 0.0]]], dtype=torch.float64)
    # softplus(log(e - 1)) = 1, so the logits are the plain cosines 1, 0, 1/sqrt2.
    strengths = torch.tensor([[math.log(math.e - 1)]], dtype=torch.float64)
    weights = CosineWeights(1, 2)(memory, keys, strengths)
    exps = [math.e, 1.0, math.exp(1 / math.sqrt(2))]
    _close(weights, [[[e / sum(exps) for e in exps]]], atol=1e-5)


@pytest.mark.parametrize("num_heads", [1, 3])
def test_cosine_weights_match_formula(num_heads):
    g = torch.Generator().manual_seed(0)
    memory = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    keys = torch.randn(2, num_heads, 4, generator=g, dtype=torch.float64)
    strengths = torch.randn(2, num_heads, generator=g, dtype=torch.float64) * 3
    weights = CosineWeights(num_heads, 4)(memory, keys, strengths)
    _close(
        weights, ref_cosine_weights(memory.tolist(), keys.tolist(), strengths.tolist())
    )


def test_cosine_weights_gradcheck():
    g = torch.Generator().manual_seed(1)
    memory = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    keys = torch.randn(2, 2, 3, generator=g, dtype=torch.float64)
    strengths = torch.randn(2, 2, generator=g, dtype=torch.float64)
    inputs = tuple(t.requires_grad_() for t in (memory, keys, strengths))
    assert torch.autograd.gradcheck(CosineWeights(2, 3), inputs)


def test_cosine_weights_zero_memory_is_uniform_with_finite_gradients():
    memory = torch.zeros(1, 4, 3, requires_grad=True)
    keys = torch.randn(1, 2, 3, requires_grad=True)
    weights = CosineWeights(2, 3)(memory, keys, torch.zeros(1, 2))
    torch.testing.assert_close(weights, torch.full((1, 2, 4), 0.25))
    (weights * torch.arange(4.0)).sum().backward()
    assert torch.isfinite(memory.grad).all() and torch.isfinite(keys.grad).all()


def test_cosine_weights_bad_shapes():
    cosine = CosineWeights(2, 3)
    with pytest.raises(ValueError, match=r"keys must have shape \(1, 2, 3\), got"):
        cosine(torch.zeros(1, 4, 3), torch.zeros(1, 3, 3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="memory must have shape"):
        cosine(torch.zeros(1, 4, 5), torch.zeros(1, 2, 3), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        CosineWeights(0, 3)


# --- Freeness ----------------------------------------------------------------


@pytest.mark.parametrize("num_writes,num_reads", [(1, 1), (2, 3)])
def test_usage_matches_formula(num_writes, num_reads):
    g = torch.Generator().manual_seed(2)
    ww = _rand_weights(3, num_writes, 6, generator=g)
    rw = _rand_weights(3, num_reads, 6, generator=g)
    fg = torch.rand(3, num_reads, generator=g, dtype=torch.float64)
    u = torch.rand(3, 6, generator=g, dtype=torch.float64)
    usage = Freeness(6)(write_weights=ww, free_gate=fg, read_weights=rw, prev_usage=u)
    _close(usage, ref_usage(ww.tolist(), fg.tolist(), rw.tolist(), u.tolist()))


def test_usage_hand_checked():
    # One slot: u = 0.5 written with 0.5 -> 0.75; read with 0.4, freed with 0.5
    # -> 0.75 * (1 - 0.2) = 0.6. A second write head writing 0.5 makes the
    # combined write 1 - 0.5 * 0.5 = 0.75 -> (0.5 + 0.75 - 0.375) * 0.8 = 0.7.
    f = Freeness(1)
    u = torch.tensor([[0.5]], dtype=torch.float64)
    args = {
        "free_gate": torch.tensor([[0.5]], dtype=torch.float64),
        "read_weights": torch.tensor([[[0.4]]], dtype=torch.float64),
        "prev_usage": u,
    }
    one = f(write_weights=torch.tensor([[[0.5]]], dtype=torch.float64), **args)
    two = f(write_weights=torch.tensor([[[0.5], [0.5]]], dtype=torch.float64), **args)
    _close(one, [[0.6]])
    _close(two, [[0.7]])


def test_usage_stays_in_unit_interval():
    g = torch.Generator().manual_seed(3)
    f = Freeness(8)
    usage = torch.zeros(16, 8, dtype=torch.float64)
    for _ in range(50):
        ww = _rand_weights(16, 2, 8, generator=g, total=1.5)
        rw = _rand_weights(16, 3, 8, generator=g, total=1.5)
        fg = torch.rand(16, 3, generator=g, dtype=torch.float64)
        usage = f(
            write_weights=ww.clamp(max=1),
            free_gate=fg,
            read_weights=rw.clamp(max=1),
            prev_usage=usage,
        )
        assert usage.min() >= 0 and usage.max() <= 1


def test_usage_gradcheck():
    g = torch.Generator().manual_seed(4)
    inputs = (
        _rand_weights(2, 2, 4, generator=g),
        torch.rand(2, 3, generator=g, dtype=torch.float64),
        _rand_weights(2, 3, 4, generator=g),
        torch.rand(2, 4, generator=g, dtype=torch.float64),
    )
    assert torch.autograd.gradcheck(
        Freeness(4), tuple(t.requires_grad_() for t in inputs)
    )


@pytest.mark.parametrize("num_writes", [1, 2, 3])
def test_allocation_matches_formula(num_writes):
    g = torch.Generator().manual_seed(5)
    usage = torch.rand(4, 7, generator=g, dtype=torch.float64)
    gates = torch.rand(4, num_writes, generator=g, dtype=torch.float64)
    alloc = Freeness(7).write_allocation_weights(
        usage=usage, write_gates=gates, num_writes=num_writes
    )
    assert alloc.shape == (4, num_writes, 7)
    _close(alloc, ref_allocation(usage.tolist(), gates.tolist()))


def test_allocation_hand_checked():
    # usage 0.5, 0.2, 0.9 (eps neglected): order 1, 0, 2;
    # a[1] = 0.8, a[0] = 0.5 * 0.2 = 0.1, a[2] = 0.1 * 0.2 * 0.5 = 0.01.
    usage = torch.tensor([[0.5, 0.2, 0.9]], dtype=torch.float64)
    alloc = Freeness(3).write_allocation_weights(
        usage=usage, write_gates=torch.ones(1, 1, dtype=torch.float64), num_writes=1
    )
    _close(alloc, [[[0.1, 0.8, 0.01]]], atol=1e-5)


def test_allocation_goes_to_least_used_slots():
    g = torch.Generator().manual_seed(6)
    usage = torch.rand(32, 10, generator=g)
    alloc = Freeness(10).write_allocation_weights(
        usage=usage, write_gates=torch.ones(32, 1), num_writes=1
    )
    assert torch.equal(alloc[:, 0].argmax(-1), usage.argmin(-1))
    assert (alloc.sum(-1) <= 1 + 1e-6).all()
    # A fully used memory with one free slot allocates (almost) only that slot.
    full = torch.ones(1, 5)
    full[0, 3] = 0.0
    alloc = Freeness(5).write_allocation_weights(
        usage=full, write_gates=torch.ones(1, 1), num_writes=1
    )
    torch.testing.assert_close(alloc[0, 0], torch.eye(5)[3], atol=1e-5, rtol=0)


def test_second_write_head_allocates_elsewhere():
    usage = torch.tensor([[1.0, 0.0, 1.0, 0.0, 1.0]])
    alloc = Freeness(5).write_allocation_weights(
        usage=usage, write_gates=torch.ones(1, 2), num_writes=2
    )
    first, second = alloc[0, 0].argmax().item(), alloc[0, 1].argmax().item()
    assert {first, second} == {1, 3}
    # With a zero gate the first head's allocation does not count as a write.
    alloc = Freeness(5).write_allocation_weights(
        usage=usage, write_gates=torch.tensor([[0.0, 1.0]]), num_writes=2
    )
    torch.testing.assert_close(alloc[0, 0], alloc[0, 1])


def test_allocation_gradients_are_finite():
    usage = torch.tensor([[0.0, 0.0, 0.3, 1.0]], requires_grad=True)
    gates = torch.tensor([[0.7, 0.2]], requires_grad=True)
    alloc = Freeness(4).write_allocation_weights(
        usage=usage, write_gates=gates, num_writes=2
    )
    (alloc * torch.randn(1, 2, 4)).sum().backward()
    assert torch.isfinite(usage.grad).all() and torch.isfinite(gates.grad).all()


def test_freeness_bad_shapes():
    f = Freeness(4)
    with pytest.raises(ValueError, match=r"usage must have shape \(2, 4\), got"):
        f.write_allocation_weights(
            usage=torch.zeros(2, 5), write_gates=torch.zeros(2, 1), num_writes=1
        )
    with pytest.raises(ValueError, match="write_gates must have shape"):
        f.write_allocation_weights(
            usage=torch.zeros(2, 4), write_gates=torch.zeros(2, 1), num_writes=2
        )
    with pytest.raises(ValueError, match="free_gate must have shape"):
        f(
            write_weights=torch.zeros(2, 1, 4),
            free_gate=torch.zeros(2, 2),
            read_weights=torch.zeros(2, 3, 4),
            prev_usage=torch.zeros(2, 4),
        )
    with pytest.raises(ValueError, match="memory_size must be a positive integer"):
        Freeness(-1)


# --- TemporalLinkage ---------------------------------------------------------


@pytest.mark.parametrize("num_writes", [1, 2])
def test_linkage_matches_formula_over_steps(num_writes):
    g = torch.Generator().manual_seed(7)
    linkage = TemporalLinkage(5, num_writes)
    link = [[[[0.0] * 5 for _ in range(5)] for _ in range(num_writes)]] * 2
    prec = [[[0.0] * 5 for _ in range(num_writes)]] * 2
    state = None
    for _ in range(4):
        ww = _rand_weights(2, num_writes, 5, generator=g)
        state = linkage(ww, state)
        link, prec = ref_linkage(ww.tolist(), link, prec)
        _close(state.link, link)
        _close(state.precedence_weights, prec)


def test_linkage_hand_checked():
    # Write slot 0 fully, then slot 2 fully: link[2, 0] = 1, all else 0;
    # precedence ends on slot 2.
    linkage = TemporalLinkage(3, 1)
    state = linkage(torch.tensor([[[1.0, 0.0, 0.0]]]), None)
    state = linkage(torch.tensor([[[0.0, 0.0, 1.0]]]), state)
    expected = torch.zeros(1, 1, 3, 3)
    expected[0, 0, 2, 0] = 1.0
    torch.testing.assert_close(state.link, expected)
    torch.testing.assert_close(state.precedence_weights, torch.tensor([[[0, 0, 1.0]]]))
    forward = linkage.directional_read_weights(
        state.link, torch.tensor([[[1.0, 0.0, 0.0]]]), is_forward=True
    )
    backward = linkage.directional_read_weights(
        state.link, torch.tensor([[[0.0, 0.0, 1.0]]]), is_forward=False
    )
    # From slot 0 forward is slot 2; from slot 2 backward is slot 0.
    torch.testing.assert_close(forward, torch.tensor([[[[0.0, 0.0, 1.0]]]]))
    torch.testing.assert_close(backward, torch.tensor([[[[1.0, 0.0, 0.0]]]]))


def test_linkage_missing_state_equals_zero_state():
    g = torch.Generator().manual_seed(8)
    linkage = TemporalLinkage(6, 2)
    ww = _rand_weights(3, 2, 6, generator=g)
    from_none = linkage(ww, None)
    from_zero = linkage(ww, linkage.initial_state(3, dtype=torch.float64))
    assert isinstance(from_none, TemporalLinkageState)
    torch.testing.assert_close(from_none.link, from_zero.link)
    torch.testing.assert_close(
        from_none.precedence_weights, from_zero.precedence_weights
    )


def test_link_matrix_properties():
    g = torch.Generator().manual_seed(9)
    linkage = TemporalLinkage(8, 2)
    state = None
    for _ in range(30):
        state = linkage(_rand_weights(4, 2, 8, generator=g), state)
        link = state.link
        assert torch.count_nonzero(link.diagonal(dim1=-2, dim2=-1)) == 0
        assert link.min() >= 0
        assert (link.sum(-1) <= 1 + 1e-9).all() and (link.sum(-2) <= 1 + 1e-9).all()
        assert (state.precedence_weights.sum(-1) <= 1 + 1e-9).all()


def test_link_update_gradcheck():
    g = torch.Generator().manual_seed(10)
    linkage = TemporalLinkage(4, 2)
    state = linkage(_rand_weights(2, 2, 4, generator=g), None)
    state = linkage(_rand_weights(2, 2, 4, generator=g), state)
    ww = _rand_weights(2, 2, 4, generator=g)

    def step(write_weights, link, precedence):
        return tuple(linkage(write_weights, TemporalLinkageState(link, precedence)))

    inputs = (ww, state.link.clone(), state.precedence_weights.clone())
    assert torch.autograd.gradcheck(step, tuple(t.requires_grad_() for t in inputs))


@pytest.mark.parametrize("is_forward", [True, False])
def test_directional_read_weights_match_formula(is_forward):
    g = torch.Generator().manual_seed(11)
    link = torch.rand(2, 2, 4, 4, generator=g, dtype=torch.float64)
    reads = _rand_weights(2, 3, 4, generator=g)
    out = TemporalLinkage(4, 2).directional_read_weights(link, reads, is_forward)
    assert out.shape == (2, 3, 2, 4)
    _close(out, ref_directional(link.tolist(), reads.tolist(), is_forward))


def test_linkage_bad_shapes():
    linkage = TemporalLinkage(4, 2)
    with pytest.raises(ValueError, match=r"write_weights must have shape \(3, 2, 4\)"):
        linkage(torch.zeros(3, 1, 4), None)
    with pytest.raises(ValueError, match="prev_state.link must have shape"):
        linkage(
            torch.zeros(3, 2, 4),
            TemporalLinkageState(torch.zeros(3, 2, 4, 5), torch.zeros(3, 2, 4)),
        )
    with pytest.raises(ValueError, match="num_writes must be a positive integer"):
        TemporalLinkage(4, 0)


# --- erase and write ---------------------------------------------------------


@pytest.mark.parametrize("num_writes", [1, 2])
def test_erase_and_write_matches_formula(num_writes):
    g = torch.Generator().manual_seed(12)
    memory = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    address = _rand_weights(2, num_writes, 5, generator=g)
    erase = torch.rand(2, num_writes, 3, generator=g, dtype=torch.float64)
    values = torch.randn(2, num_writes, 3, generator=g, dtype=torch.float64)
    out = erase_and_write(memory, address, erase, values)
    _close(
        out,
        ref_erase_and_write(
            memory.tolist(), address.tolist(), erase.tolist(), values.tolist()
        ),
    )


def test_erase_and_write_hand_checked():
    memory = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    address = torch.tensor([[[1.0, 0.0]]])  # write all of slot 0, none of slot 1
    erase = torch.tensor([[[1.0, 0.5]]])
    values = torch.tensor([[[10.0, 20.0]]])
    out = erase_and_write(memory, address, erase, values)
    torch.testing.assert_close(out, torch.tensor([[[10.0, 21.0], [3.0, 4.0]]]))


def test_erase_and_write_bad_shapes():
    memory = torch.zeros(2, 5, 3)
    with pytest.raises(ValueError, match=r"address must have shape \(2, \?, 5\)"):
        erase_and_write(
            memory, torch.zeros(2, 1, 4), torch.zeros(2, 1, 3), torch.zeros(2, 1, 3)
        )
    with pytest.raises(ValueError, match=r"values must have shape \(2, 1, 3\)"):
        erase_and_write(
            memory, torch.zeros(2, 1, 5), torch.zeros(2, 1, 3), torch.zeros(2, 2, 3)
        )
    with pytest.raises(ValueError, match="memory must have shape"):
        erase_and_write(
            torch.zeros(5, 3),
            torch.zeros(2, 1, 5),
            torch.zeros(2, 1, 3),
            torch.zeros(2, 1, 3),
        )


@pytest.mark.parametrize("num_writes", [1, 2])
def test_erase_and_write_gradcheck(num_writes):
    g = torch.Generator().manual_seed(13)
    inputs = (
        torch.randn(2, 4, 3, generator=g, dtype=torch.float64),
        _rand_weights(2, num_writes, 4, generator=g),
        torch.rand(2, num_writes, 3, generator=g, dtype=torch.float64),
        torch.randn(2, num_writes, 3, generator=g, dtype=torch.float64),
    )
    assert torch.autograd.gradcheck(
        erase_and_write, tuple(t.requires_grad_() for t in inputs)
    )


# --- devices -----------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_addressing_runs_on_device(device):
    memory = torch.randn(2, 6, 3, device=device)
    cw = CosineWeights(2, 3)(
        memory, torch.randn(2, 2, 3, device=device), torch.randn(2, 2, device=device)
    )
    assert cw.device.type == torch.device(device).type
    alloc = Freeness(6).write_allocation_weights(
        usage=torch.rand(2, 6, device=device),
        write_gates=torch.rand(2, 2, device=device),
        num_writes=2,
    )
    state = TemporalLinkage(6, 2)(alloc, None)
    state = TemporalLinkage(6, 2)(alloc, state)
    assert state.link.device.type == torch.device(device).type


# --- gradients -----------------------------------------------------------------


def test_allocation_gradcheck():
    g = torch.Generator().manual_seed(14)
    # distinct usages, so that finite differences do not reorder the slots
    usage = (torch.randperm(6, generator=g).double() / 6 + 0.01).reshape(1, 6)
    usage = torch.cat([usage, usage.flip(-1)]).requires_grad_()
    gates = torch.tensor([[0.3, 0.9], [1.0, 0.5]], dtype=torch.float64)
    gates.requires_grad_()
    f = Freeness(6)

    def alloc(u, wg):
        return f.write_allocation_weights(usage=u, write_gates=wg, num_writes=2)

    assert torch.autograd.gradcheck(alloc, (usage, gates))
