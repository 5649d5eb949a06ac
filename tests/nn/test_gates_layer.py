"""Tests of the stochastic gate layers against maths written out here."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from sk_memsel.nn import GatedMLP, GaussianStochasticGates, HardConcreteGates


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make(kind, n_gates=5, **kwargs):
    if kind == "gaussian":
        return GaussianStochasticGates(n_gates, **kwargs)
    return HardConcreteGates(n_gates, **kwargs)


def set_params(gates, values):
    name = "mu" if isinstance(gates, GaussianStochasticGates) else "log_alpha"
    with torch.no_grad():
        getattr(gates, name).copy_(torch.as_tensor(values, dtype=torch.float32))


# ---------------------------------------------------------------- open probability
def test_gaussian_open_probability_is_the_normal_cdf():
    torch.manual_seed(0)
    mu = np.array([-1.0, -0.2, 0.0, 0.3, 1.5])
    for sigma in (0.1, 0.5, 2.0):
        gates = GaussianStochasticGates(5, sigma=sigma)
        set_params(gates, mu)
        np.testing.assert_allclose(
            gates.get_active_probs().detach().numpy(),
            norm.cdf(mu / sigma),
            rtol=1e-5,
            atol=1e-7,
        )


def test_hard_concrete_open_probability():
    log_alpha = np.array([-3.0, -0.5, 0.0, 0.7, 4.0])
    for beta in (0.2, 2 / 3, 1.5):
        gates = HardConcreteGates(5, temperature=beta)
        set_params(gates, log_alpha)
        # P(s_bar > 0) with s_bar = s * (zeta - gamma) + gamma, s the binary
        # concrete: s > -gamma / (zeta - gamma) <=> the logistic noise plus
        # log_alpha exceeds beta * logit(-gamma / (zeta - gamma)).
        t = 0.1 / 1.2
        want = sigmoid(log_alpha - beta * math.log(t / (1 - t)))
        np.testing.assert_allclose(
            gates.get_active_probs().detach().numpy(), want, rtol=1e-5
        )
        # the closed form of the issue, log(-gamma / zeta)
        np.testing.assert_allclose(
            want, sigmoid(log_alpha - beta * math.log(0.1 / 1.1)), rtol=1e-12
        )


@pytest.mark.parametrize("kind", ["gaussian", "hard_concrete"])
def test_open_probability_matches_monte_carlo(kind):
    torch.manual_seed(0)
    gates = make(kind, 3)
    set_params(gates, [-0.3, 0.1, 0.6] if kind == "gaussian" else [-1.0, 0.0, 1.0])
    gates.train()
    with torch.no_grad():
        z = gates(torch.ones(200_000, 3))
    frequency = (z > 0).double().mean(0).numpy()
    np.testing.assert_allclose(
        frequency, gates.get_active_probs().detach().numpy(), atol=5e-3
    )


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("kind", ["gaussian", "hard_concrete"])
def test_training_gates_are_clamped_to_unit_interval(kind):
    torch.manual_seed(0)
    gates = make(kind, 4, **({"sigma": 3.0} if kind == "gaussian" else {}))
    set_params(gates, [-2.0, 0.0, 0.5, 3.0])
    with torch.no_grad():
        z = gates.train()(torch.ones(5000, 4))
    assert z.min() == 0.0 and z.max() == 1.0
    assert ((z > 0) & (z < 1)).any()  # not only the clamped ends


def test_eval_gate_values_follow_the_formulas():
    gaussian = GaussianStochasticGates(4)
    set_params(gaussian, [-0.5, 0.25, 0.75, 1.5])
    np.testing.assert_allclose(
        gaussian.get_gate_values().detach().numpy(), [0.0, 0.25, 0.75, 1.0]
    )
    concrete = HardConcreteGates(4)
    log_alpha = np.array([-4.0, -0.5, 0.5, 4.0])
    set_params(concrete, log_alpha)
    want = np.clip(sigmoid(log_alpha) * 1.2 - 0.1, 0, 1)
    np.testing.assert_allclose(
        concrete.get_gate_values().detach().numpy(), want, rtol=1e-5
    )
    assert want[0] == 0.0 and want[-1] == 1.0


@pytest.mark.parametrize("kind", ["gaussian", "hard_concrete"])
def test_training_noise_and_eval_determinism(kind):
    torch.manual_seed(0)
    gates = make(kind, 6)
    x = torch.randn(8, 6)
    gates.train()
    with torch.no_grad():
        a, b = gates(x), gates(x)
    assert not torch.equal(a, b)
    # every example draws its own gates
    ratio = a / x
    assert not torch.allclose(ratio[0], ratio[1])
    gates.eval()
    with torch.no_grad():
        c, d = gates(x), gates(x)
    assert torch.equal(c, d)
    torch.testing.assert_close(c, x * gates.get_gate_values())


def test_initial_gates_are_half_open():
    torch.manual_seed(0)
    for kind in ("gaussian", "hard_concrete"):
        values = make(kind, 50).get_gate_values().detach().numpy()
        np.testing.assert_allclose(values, 0.5, atol=0.05)


# ---------------------------------------------------------------- grouping
@pytest.mark.parametrize("kind", ["gaussian", "hard_concrete"])
def test_mask_shares_one_gate_per_group(kind):
    torch.manual_seed(0)
    mask = torch.tensor([0, 1, 0, 2, 1, 1])
    gates = make(kind, 3, mask=mask)
    x = torch.ones(50, 6)
    with torch.no_grad():
        z = gates.train()(x)
    for group in range(3):
        cols = z[:, mask == group]
        assert torch.equal(cols, cols[:, :1].expand_as(cols))
    assert not torch.equal(z[:, 0], z[:, 1])
    with torch.no_grad():
        z = gates.eval()(x)
    torch.testing.assert_close(z[0], gates.get_gate_values()[mask])


def test_mask_broadcasts_over_trailing_dimensions():
    torch.manual_seed(0)
    # 2 channels of 3 steps, one gate per channel
    gates = GaussianStochasticGates(2, mask=torch.tensor([[0], [1]]))
    set_params(gates, [0.25, 0.75])
    out = gates.eval()(torch.ones(4, 2, 3))
    torch.testing.assert_close(out[0], torch.tensor([[0.25] * 3, [0.75] * 3]))


def test_shape_errors():
    gates = GaussianStochasticGates(3)
    with pytest.raises(ValueError, match="3 gates"):
        gates(torch.ones(2, 4))
    masked = GaussianStochasticGates(2, mask=torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match="does not broadcast"):
        masked(torch.ones(2, 4))


# ---------------------------------------------------------------- regulariser
@pytest.mark.parametrize("kind", ["gaussian", "hard_concrete"])
def test_reductions(kind):
    probs = None
    results = {}
    for reduction in ("sum", "mean", "none"):
        torch.manual_seed(0)
        gates = make(kind, 4, reg_weight=0.3, reg_reduction=reduction)
        probs = gates.get_active_probs().detach()
        results[reduction] = gates.penalty().detach()
    torch.testing.assert_close(results["none"], 0.3 * probs)
    torch.testing.assert_close(results["sum"], 0.3 * probs.sum())
    torch.testing.assert_close(results["mean"], 0.3 * probs.sum() / 4)
    assert results["sum"].shape == () and results["none"].shape == (4,)


@pytest.mark.parametrize("kind", ["gaussian", "hard_concrete"])
def test_gradient_reaches_the_gate_parameters(kind):
    torch.manual_seed(0)
    gates = make(kind, 5, reg_reduction="sum")
    param = gates.mu if kind == "gaussian" else gates.log_alpha
    gates.penalty().backward()
    assert param.grad is not None and (param.grad > 0).all()
    param.grad = None
    # through the sampled gates too (the task loss)
    gates(torch.randn(32, 5)).pow(2).sum().backward()
    assert param.grad is not None and param.grad.abs().sum() > 0


def test_gaussian_penalty_gradient_is_the_normal_density():
    gates = GaussianStochasticGates(3, sigma=0.5)
    mu = np.array([-0.4, 0.1, 0.8])
    set_params(gates, mu)
    gates.penalty().backward()
    np.testing.assert_allclose(
        gates.mu.grad.numpy(), norm.pdf(mu / 0.5) / 0.5, rtol=1e-5
    )


# ---------------------------------------------------------------- checks
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_gates": 0}, "n_gates"),
        ({"n_gates": 3, "sigma": 0.0}, "sigma"),
        ({"n_gates": 3, "sigma": -1.0}, "sigma"),
        ({"n_gates": 3, "reg_reduction": "max"}, "reg_reduction"),
        ({"n_gates": 3, "reg_weight": -0.1}, "reg_weight"),
        ({"n_gates": 2, "mask": torch.tensor([0, 2])}, "0 .. 1"),
        ({"n_gates": 2, "mask": torch.tensor([0.0, 1.0])}, "integer"),
    ],
)
def test_gaussian_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianStochasticGates(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"gamma": 0.1}, "gamma"),
        ({"zeta": 0.9}, "zeta"),
        ({"init_mean": 1.0}, "init_mean"),
    ],
)
def test_hard_concrete_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HardConcreteGates(3, **kwargs)


# ---------------------------------------------------------------- GatedMLP
def test_gated_mlp_shapes_and_penalty():
    torch.manual_seed(0)
    gates = HardConcreteGates(6, reg_weight=0.5, reg_reduction="none")
    net = GatedMLP(gates, 6, 3, hidden_layer_sizes=(8, 4), activation="relu")
    assert net(torch.randn(5, 6)).shape == (5, 3)
    torch.testing.assert_close(net.penalty(), 0.5 * gates.get_active_probs().sum())
    torch.testing.assert_close(
        net.expected_open_gates(), gates.get_active_probs().sum()
    )
    linear = GatedMLP(GaussianStochasticGates(6), 6, 1)
    assert [type(m).__name__ for m in linear.body] == ["Linear"]
    with pytest.raises(ValueError, match="activation"):
        GatedMLP(GaussianStochasticGates(6), 6, 1, activation="sigmoid")


def test_the_gate_base_class_is_abstract():
    from sk_memsel.nn._gates import StochasticGatesBase

    with pytest.raises(TypeError, match="abstract"):
        StochasticGatesBase(3)


def test_numpy_and_tensor_scalars_are_numbers():
    # annealing schedules often compute temperatures as NumPy or torch scalars
    gates = GaussianStochasticGates(4, sigma=np.float32(0.5))
    assert gates.sigma == 0.5
    hard = HardConcreteGates(4, temperature=torch.tensor(0.5))
    assert hard.temperature == 0.5
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        GaussianStochasticGates(4, sigma=np.bool_(True))
