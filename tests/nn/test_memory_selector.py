"""MemorySelector: selection over memory slots, soft and straight-through hard."""

import math

import pytest
import torch

from sk_memsel.nn import MemorySelector

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available"
        ),
    ),
]


def _selector(**kw):
    params = {"in_features": 6, "memory_size": 5, "embedding_size": 4}
    params.update({"out_features": 3, **kw})
    return MemorySelector(**params)


def test_shapes_and_memory_bank():
    selector = _selector()
    assert selector.memory_bank.shape == (3, 5, 4)
    assert selector.memory_bank is selector.memory
    assert selector.memory_bank.requires_grad
    x = torch.randn(7, 6)
    assert selector(x).shape == (7, 3, 4)
    assert selector(x, sampling=True).shape == (7, 3, 4)
    assert selector.selection_probabilities(x).shape == (7, 3, 5)
    assert selector.scores(x).shape == (7, 3, 5)


def test_soft_path_matches_formula():
    torch.manual_seed(0)
    selector = _selector(temperature=0.7).double()
    x = torch.randn(4, 6, dtype=torch.float64)
    out, probs = selector(x, return_probabilities=True)
    scores = selector.scorer(x).reshape(4, 3, 5).tolist()
    bank = selector.memory_bank.tolist()
    for b in range(4):
        for o in range(3):
            exps = [math.exp(s / 0.7) for s in scores[b][o]]
            p = [e / sum(exps) for e in exps]
            z = [sum(p[m] * bank[o][m][e] for m in range(5)) for e in range(4)]
            torch.testing.assert_close(probs[b, o], torch.tensor(p).double())
            torch.testing.assert_close(out[b, o], torch.tensor(z).double())
    torch.testing.assert_close(selector.selection_probabilities(x), probs)


def test_selection_is_over_memory_slots_not_outputs():
    # The reference text normalised over the outputs (dim=1); the slots are
    # the last axis, and each (sample, output) distribution sums to one.
    selector = _selector(out_features=3, memory_size=5)
    probs = selector.selection_probabilities(torch.randn(8, 6))
    torch.testing.assert_close(probs.sum(-1), torch.ones(8, 3))
    assert not torch.allclose(probs.sum(1), torch.ones(8, 5))


def test_low_temperature_picks_the_top_slot():
    torch.manual_seed(1)
    selector = _selector(temperature=1e-4)
    x = torch.randn(5, 6)
    top = selector.scores(x).argmax(-1)
    expected = selector.memory_bank[torch.arange(3), top]  # (5, 3, 4)
    torch.testing.assert_close(selector(x), expected)


def test_hard_sampling_returns_memory_rows():
    torch.manual_seed(2)
    selector = _selector()
    x = torch.randn(9, 6)
    out, weights = selector(x, sampling=True, return_probabilities=True)
    assert set(weights.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(weights.sum(-1), torch.ones(9, 3))
    chosen = weights.argmax(-1)
    torch.testing.assert_close(out, selector.memory_bank[torch.arange(3), chosen])


def test_hard_sampling_is_reproducible():
    selector = _selector()
    x = torch.randn(16, 6)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a = selector(x, sampling=True, generator=g1)
    b = selector(x, sampling=True, generator=g2)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.manual_seed(4)
    c = selector(x, sampling=True)
    torch.manual_seed(4)
    d = selector(x, sampling=True)
    torch.testing.assert_close(c, d, rtol=0, atol=0)


def test_hard_sampling_frequencies_follow_the_softmax_of_the_scores():
    selector = _selector(out_features=1, temperature=0.5)
    x = torch.randn(1, 6).expand(4000, 6)
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        _, weights = selector(x, sampling=True, return_probabilities=True, generator=g)
        expected = torch.softmax(selector.scores(x[:1]), -1)[0, 0]
    freq = weights[:, 0].mean(0)
    # 4000 draws: the standard error of a frequency is at most 0.008.
    torch.testing.assert_close(freq, expected, atol=0.04, rtol=0)


def test_straight_through_gradient_reaches_scorer_and_memory():
    selector = _selector()
    out = selector(torch.randn(4, 6), sampling=True)
    (out * torch.randn_like(out)).sum().backward()
    assert selector.scorer[0].weight.grad.abs().sum() > 0
    assert selector.memory.grad.abs().sum() > 0


def test_soft_path_gradcheck():
    torch.manual_seed(6)
    selector = _selector(memory_size=3, embedding_size=2, out_features=2).double()
    x = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(selector, (x,))
    # and with respect to the memory bank
    assert torch.autograd.gradcheck(
        lambda m: torch.func.functional_call(selector, {"memory": m}, (x,)),
        (selector.memory.detach().clone().requires_grad_(),),
    )


@pytest.mark.parametrize("sampling", [False, True])
def test_batch_elements_do_not_leak(sampling):
    selector = _selector().eval()
    x = torch.randn(4, 6)
    y = x.clone()
    y[0] = torch.randn(6)
    a = selector(x, sampling=sampling, generator=torch.Generator().manual_seed(7))
    b = selector(y, sampling=sampling, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a[1:], b[1:], rtol=0, atol=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"in_features": 0}, "in_features must be a positive integer"),
        ({"memory_size": -2}, "memory_size must be a positive integer"),
        ({"embedding_size": 2.0}, "embedding_size must be a positive integer"),
        ({"out_features": True}, "out_features must be a positive integer"),
        ({"temperature": 0.0}, "temperature must be a positive number"),
        ({"temperature": "1"}, "temperature must be a positive number"),
        ({"hidden_size": 0}, "hidden_size must be a positive integer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _selector(**kwargs)


def test_temperature_can_be_annealed_but_stays_positive():
    selector = _selector(temperature=2.0)
    x = torch.randn(3, 6)
    selector.temperature = 0.5
    expected = torch.softmax(selector.scores(x) / 0.5, dim=-1)
    torch.testing.assert_close(selector.selection_probabilities(x), expected)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        selector.temperature = -1.0
    assert selector.temperature == 0.5


def test_bad_input_shape():
    selector = _selector()
    with pytest.raises(
        ValueError, match=r"x must have shape \(batch, 6\), got \(4, 5\)"
    ):
        selector(torch.randn(4, 5))
    with pytest.raises(ValueError, match=r"got \(6,\)"):
        selector.selection_probabilities(torch.randn(6))


@pytest.mark.parametrize("device", DEVICES)
def test_on_device(device):
    torch.manual_seed(8)
    selector = _selector()
    x = torch.randn(4, 6)
    expected = selector(x)
    selector.to(device)
    out = selector(x.to(device))
    torch.testing.assert_close(out.cpu(), expected)
    g = torch.Generator(device=device).manual_seed(0)
    hard = selector(x.to(device), sampling=True, generator=g)
    assert hard.device.type == torch.device(device).type


def test_compiles():
    # The one inductor compile of the default run (20-30 s on two cores).
    torch.manual_seed(9)
    selector = _selector()
    compiled = torch.compile(selector, fullgraph=True)
    x = torch.randn(4, 6)
    out, probs = selector(x, return_probabilities=True)
    cout, cprobs = compiled(x, return_probabilities=True)
    torch.testing.assert_close(cout, out)
    torch.testing.assert_close(cprobs, probs)
