"""Tests of the temperature-annealing callback."""

import math

import numpy as np
import pytest

from sk_memsel._backbone import TemperatureAnnealing

from ._toy import ToyRegressor


def expected_exp(start, end, epoch, total, warmup=0, stop=None):
    # the schedule written out independently of the implementation
    if stop is not None and epoch > stop:
        epoch = stop
    if epoch <= warmup:
        return start
    t = (epoch - warmup - 1) / (total - warmup - 1)
    return math.exp(math.log(start) + t * (math.log(end) - math.log(start)))


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    return rng.normal(size=(40, 3)), rng.normal(size=40)


def fitted_temperatures(data, **anneal):
    X, y = data
    est = ToyRegressor(max_epochs=6, anneal=anneal, random_state=0).fit(X, y)
    temps = est.history_[:, "temperature"]
    # the module ends with the temperature of the last epoch
    assert est.net_.module_.temperature == temps[-1]
    return temps


def test_exponential_schedule_per_epoch(data):
    temps = fitted_temperatures(data, start=10.0, end=0.01, mode="exp")
    want = [expected_exp(10.0, 0.01, e, 6) for e in range(1, 7)]
    np.testing.assert_allclose(temps, want, rtol=1e-12)
    assert temps[0] == 10.0 and math.isclose(temps[-1], 0.01)


def test_linear_schedule_per_epoch(data):
    temps = fitted_temperatures(data, start=2.0, end=0.5, mode="linear")
    np.testing.assert_allclose(temps, [2.0, 1.7, 1.4, 1.1, 0.8, 0.5])


def test_warmup_holds_the_start_temperature(data):
    temps = fitted_temperatures(
        data, start=4.0, end=1.0, mode="linear", warmup_epochs=2
    )
    np.testing.assert_allclose(temps, [4.0, 4.0, 4.0, 3.0, 2.0, 1.0])


def test_stop_epoch_freezes_the_temperature(data):
    temps = fitted_temperatures(data, start=10.0, end=0.01, mode="exp", stop_epoch=3)
    want = [expected_exp(10.0, 0.01, e, 6, stop=3) for e in range(1, 7)]
    np.testing.assert_allclose(temps, want, rtol=1e-12)
    assert temps[2] == temps[3] == temps[5] > 0.01


def test_warmup_and_stop_together():
    cb = TemperatureAnnealing(8.0, 1.0, max_epochs=10, warmup_epochs=2, stop_epoch=6)
    got = [cb.temperature_at(e) for e in range(1, 11)]
    want = [expected_exp(8.0, 1.0, e, 10, warmup=2, stop=6) for e in range(1, 11)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[:3] == [8.0, 8.0, 8.0]  # epochs 1-2 warm up, epoch 3 starts at 8


def test_single_epoch_schedule_uses_the_start():
    assert TemperatureAnnealing(3.0, 1.0, max_epochs=1).temperature_at(1) == 3.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "cosine"}, "annealing='cosine'"),
        ({"start": 0.0}, "start temperature"),
        ({"end": -1.0}, "end temperature"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"stop_epoch": 0}, "stops"),
    ],
)
def test_bad_schedules_are_refused(kwargs, message):
    args = {"start": 1.0, "end": 0.1, "max_epochs": 5, **kwargs}
    start, end = args.pop("start"), args.pop("end")
    with pytest.raises(ValueError, match=message):
        TemperatureAnnealing(start, end, **args).temperature_at(1)


def test_module_without_the_attribute_is_refused(data):
    X, y = data
    est = ToyRegressor(anneal={"start": 1.0, "end": 0.5, "attribute": "tau"})
    with pytest.raises(ValueError, match="no attribute 'tau'"):
        est.fit(X, y)
