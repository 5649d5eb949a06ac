"""The concrete selector layer against formulas written out in the test."""

import math

import pytest
import torch

from sk_memsel.nn import ConcreteSelect, distinct_argmax

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="CUDA is not available"
        ),
    ),
]


# --- reference maths on Python floats ---------------------------------------
def softmax_rows(logits):
    out = []
    for row in logits:
        top = max(row)
        e = [math.exp(v - top) for v in row]
        s = sum(e)
        out.append([v / s for v in e])
    return out


def entropy(p):
    return -sum(v * math.log(v) for v in p if v > 0)


def gjsd_reference(logits):
    """H(mean of the distributions) - mean of their entropies (equal weights)."""
    p = softmax_rows(logits)
    k, d = len(p), len(p[0])
    mean = [sum(p[i][j] for i in range(k)) / k for j in range(d)]
    return entropy(mean) - sum(entropy(row) for row in p) / k


def layer_with_logits(logits, **kwargs):
    logits = torch.tensor(logits, dtype=torch.float64)
    layer = ConcreteSelect(logits.shape[1], logits.shape[0], **kwargs).double()
    with torch.no_grad():
        layer.logits.copy_(logits)
    return layer


# --- probabilities and GJSD --------------------------------------------------
def test_probabilities_are_the_softmax_of_each_node():
    logits = [[0.0, 1.0, 2.0, -1.0], [3.0, 3.0, 0.5, 0.0]]
    layer = layer_with_logits(logits)
    got = layer.probabilities().tolist()
    for row_got, row_want in zip(got, softmax_rows(logits), strict=True):
        assert row_got == pytest.approx(row_want, abs=1e-12)


@pytest.mark.parametrize(
    "logits",
    [
        [[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]],
        [[0.3, -1.2, 0.0, 2.5], [1.0, 1.0, 1.0, 1.0], [-2.0, 0.0, 4.0, 0.1]],
        [[5.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 5.0]],
    ],
)
def test_gjsd_matches_the_formula(logits):
    layer = layer_with_logits(logits)
    assert layer.gjsd().item() == pytest.approx(gjsd_reference(logits), abs=1e-12)


def test_gjsd_bounds():
    same = layer_with_logits([[0.1, 2.0, -1.0]] * 3)
    assert same.gjsd().item() == pytest.approx(0.0, abs=1e-12)
    # nodes one-hot on distinct inputs reach log k
    distinct = layer_with_logits([[60.0, 0, 0, 0], [0, 60.0, 0, 0], [0, 0, 60.0, 0]])
    assert distinct.gjsd().item() == pytest.approx(math.log(3), abs=1e-9)


def test_gjsd_gradient_pushes_identical_nodes_apart():
    layer = layer_with_logits([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0]])
    layer.gjsd().backward()
    grad = layer.logits.grad
    # raising the diversity favours node 0 on input 0 and node 1 elsewhere
    assert grad[0, 0] > 0 and grad[1, 0] < 0


# --- training mode: Gumbel-softmax samples -----------------------------------
def test_training_output_is_the_input_times_one_sample():
    layer = layer_with_logits([[0.0, 1.0, 2.0, 0.5], [1.0, 0.0, 0.0, 0.0]])
    x = torch.randn(5, 4, dtype=torch.float64)
    weights = layer.sample_weights(torch.Generator().manual_seed(3))
    out = layer(x, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, x @ weights.T)
    assert torch.allclose(weights.sum(dim=1), torch.ones(2, dtype=torch.float64))
    assert (weights > 0).all()


def test_samples_are_the_softmax_of_logits_plus_gumbel_noise():
    logits = [[0.0, 1.0, 2.0], [0.5, 0.5, -1.0]]
    layer = layer_with_logits(logits, temperature=0.7)
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(2, 3, generator=gen, dtype=torch.float64)
    weights = layer.sample_weights(torch.Generator().manual_seed(0))
    for i in range(2):
        g = [-math.log(-math.log(float(u[i, j]))) for j in range(3)]
        scores = [(logits[i][j] + g[j]) / 0.7 for j in range(3)]
        want = softmax_rows([scores])[0]
        assert weights[i].tolist() == pytest.approx(want, abs=1e-12)


def test_samples_change_between_calls_and_repeat_with_a_seed():
    layer = ConcreteSelect(6, 2)
    a = layer.sample_weights(torch.Generator().manual_seed(1))
    b = layer.sample_weights(torch.Generator().manual_seed(1))
    c = layer.sample_weights(torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_low_temperature_samples_are_nearly_one_hot_and_follow_the_probabilities():
    logits = [1.0, 0.0, -1.0, 0.5]
    # 4 nodes with the same logits: each call draws 4 independent samples
    layer = layer_with_logits([logits] * 4, temperature=0.01)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        w = torch.cat([layer.sample_weights(gen) for _ in range(1000)])
    n = len(w)
    top = w.max(dim=1).values
    assert (top > 0.99).float().mean() > 0.95
    # Gumbel-max: the argmax of a sample picks input j with probability p_j
    counts = torch.bincount(w.argmax(dim=1), minlength=4).tolist()
    want = softmax_rows([logits])[0]
    for c, p in zip(counts, want, strict=True):
        assert c / n == pytest.approx(p, abs=0.03)


def test_high_temperature_samples_are_spread():
    layer = ConcreteSelect(10, 3, temperature=100.0)
    w = layer.sample_weights(torch.Generator().manual_seed(0))
    assert w.max().item() < 0.2


def test_gradient_reaches_the_logits_in_training():
    layer = ConcreteSelect(5, 2)
    x = torch.randn(8, 5)
    layer(x).pow(2).sum().backward()
    assert layer.logits.grad is not None and layer.logits.grad.abs().sum() > 0


# --- evaluation mode: deterministic choice -----------------------------------
def test_eval_selects_the_argmax_column_of_each_node():
    layer = layer_with_logits([[0.0, 3.0, 1.0, 0.0], [2.0, 0.0, 0.0, 5.0]]).eval()
    x = torch.randn(6, 4, dtype=torch.float64)
    one_hot = torch.tensor([[0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float64)
    assert torch.equal(layer(x), x[:, [1, 3]])
    torch.testing.assert_close(layer(x), x @ one_hot.T)
    # no randomness in evaluation
    assert torch.equal(layer(x), layer(x))


def test_fixed_selection_is_used_in_eval_only():
    layer = layer_with_logits([[0.0, 3.0, 1.0], [0.0, 2.0, 0.0]])
    x = torch.randn(4, 3, dtype=torch.float64)
    assert layer.selected_indices(distinct=False).tolist() == [1, 1]
    layer.fix_selection()
    assert layer.selection.tolist() == [1, 0]  # node 1 is less sure of input 1
    layer.eval()
    assert torch.equal(layer(x), x[:, [1, 0]])
    layer.selection = None
    assert torch.equal(layer(x), x[:, [1, 1]])
    with pytest.raises(ValueError, match="shape"):
        layer.fix_selection(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        layer.fix_selection(torch.tensor([0, 3]))


def test_state_dict_round_trip_into_a_fresh_layer(tmp_path):
    # a fixed selection is saved with the state and loaded into a layer that
    # never had one (it said "Unexpected key(s): selection")
    torch.manual_seed(0)
    layer = ConcreteSelect(5, 2)
    layer.fix_selection(torch.tensor([4, 1]))
    path = tmp_path / "layer.pt"
    torch.save(layer.state_dict(), path)
    fresh = ConcreteSelect(5, 2)
    assert fresh.selection is None
    fresh.load_state_dict(torch.load(path, weights_only=True))
    assert fresh.selection.tolist() == [4, 1]
    assert fresh.selection.dtype == torch.long
    assert torch.equal(fresh.logits, layer.logits)
    x = torch.randn(3, 5)
    assert torch.equal(fresh.eval()(x), layer.eval()(x))
    # and back: the state of a layer without a selection frees the selection
    fresh.load_state_dict(ConcreteSelect(5, 2).state_dict())
    assert fresh.selection is None
    # a partial state (strict=False, without the layer's logits) leaves it
    layer.load_state_dict({}, strict=False)
    assert layer.selection.tolist() == [4, 1]


def test_state_dict_in_a_bigger_model_and_bad_selections():
    model = torch.nn.Sequential(ConcreteSelect(4, 2), torch.nn.Linear(2, 1))
    model[0].fix_selection()
    fresh = torch.nn.Sequential(ConcreteSelect(4, 2), torch.nn.Linear(2, 1))
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh[0].selection, model[0].selection)
    state = model.state_dict()
    for bad in (torch.tensor([0, 4]), torch.tensor([0]), torch.tensor([0.0, 1.0])):
        state["0.selection"] = bad
        with pytest.raises(RuntimeError, match=r"\tselection must be 2 integer"):
            ConcreteSelect(4, 2).load_state_dict(
                {"logits": state["0.logits"], "selection": bad}
            )
        with pytest.raises(RuntimeError, match=r"0\.selection must be 2 integer"):
            fresh.load_state_dict(state)


# --- distinct assignment -----------------------------------------------------
def test_distinct_argmax_gives_the_contested_column_to_the_most_confident_node():
    p = torch.tensor(
        [
            [0.50, 0.30, 0.20, 0.00],
            [0.90, 0.05, 0.05, 0.00],
            [0.60, 0.10, 0.10, 0.20],
        ]
    )
    # node 1 keeps column 0; node 0 takes its next best (1); node 2 then
    # prefers column 3 (0.2) to column 2 (0.1)
    assert distinct_argmax(p).tolist() == [1, 0, 3]


def test_distinct_argmax_keeps_unique_argmaxes_and_is_always_distinct():
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        p = torch.softmax(3 * torch.randn(7, 9, generator=gen), dim=1)
        idx = distinct_argmax(p)
        assert len(set(idx.tolist())) == 7
        argmax = p.argmax(dim=1).tolist()
        for i, j in enumerate(argmax):
            if argmax.count(j) == 1:
                assert idx[i] == j
    # every node on the same column, k == d
    same = torch.tensor([[0.7, 0.2, 0.1]] * 3)
    assert sorted(distinct_argmax(same).tolist()) == [0, 1, 2]


def _greedy_assignment(scores):
    """The greedy assignment written out: the best remaining pair, repeatedly."""
    k, d = scores.shape
    work = scores.double().clone()
    indices = [None] * k
    for _ in range(k):
        row, col = divmod(int(torch.argmax(work)), d)
        indices[row] = col
        work[row, :] = -math.inf
        work[:, col] = -math.inf
    return indices


def test_distinct_argmax_equals_the_greedy_assignment_with_and_without_clashes():
    generator = torch.Generator().manual_seed(0)
    for trial in range(500):
        k = int(torch.randint(1, 6, (1,), generator=generator))
        d = int(torch.randint(k, 9, (1,), generator=generator))
        if trial % 2:  # few distinct values: clashes and ties
            scores = torch.randint(0, 4, (k, d), generator=generator).float()
        else:
            scores = torch.rand(k, d, generator=generator)
        assert distinct_argmax(scores).tolist() == _greedy_assignment(scores)


def test_distinct_argmax_rejects_more_rows_than_columns():
    with pytest.raises(ValueError, match="3 rows"):
        distinct_argmax(torch.ones(3, 2))
    with pytest.raises(ValueError, match="2-D"):
        distinct_argmax(torch.ones(3))


# --- arguments and devices -----------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_features": 3, "k": 4}, "k=4 is larger than in_features=3"),
        ({"in_features": 3, "k": 0}, "k must be a positive integer"),
        ({"in_features": 0, "k": 1}, "in_features must be a positive integer"),
        ({"in_features": 3, "k": 1, "temperature": 0}, "temperature"),
        ({"in_features": 3, "k": 1, "init_std": -1.0}, "init_std"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConcreteSelect(**kwargs)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        ConcreteSelect(4, 2)(torch.randn(3, 5))


def test_temperature_is_a_plain_attribute():
    layer = ConcreteSelect(4, 2, temperature=2.0)
    layer.temperature = 0.5
    assert layer.temperature == 0.5
    assert "temperature=0.5" in repr(layer)


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_device(device):
    layer = ConcreteSelect(6, 3).to(device)
    x = torch.randn(4, 6, device=device)
    assert layer(x).device.type == device
    assert layer.gjsd().device.type == device
    layer.fix_selection()
    assert layer.eval()(x).shape == (4, 3)
