"""The neural transformers' features carry the signal of a planted problem.

Each transformer is fitted in a Pipeline with a logistic regression on a
problem whose answer is known, and the Pipeline's held-out accuracy must
clear a floor. The problems are built so that a linear model cannot solve
them from the raw input: it is the transformer's features that have to
carry the signal.

- Tables: 8 standard normal features; the class says whether the first two
  lie outside the circle of radius sqrt(2 ln 2) (the median of the squared
  radius, so the classes are balanced). A linear model on the raw input
  scores 0.48-0.57.
- Sequences: 2 channels of 32 noisy time points; the first channel holds
  one period of a sine wave, up then down for class 1 and down then up for
  class 0, at a random position. A linear model on the raw input scores
  0.62-0.72.

The floors are shown to be meaningful by
``test_noise_features_score_below_the_floor``: the same Pipeline, with the
transformer's ``transform`` returning random numbers of the same shape,
scores below them.

Held-out accuracies measured on seeds 0-5 (the tests use seed 0), with the
transformer's features, with random numbers in their place, and of the
linear model on the raw input::

    tables (floor 0.75)     features      random        raw input
    MemorySelector          0.85-0.93     0.48-0.50     0.48-0.57
    DNC                     0.89-0.95     0.49-0.58     0.48-0.57
    MemoryAttention         0.83-0.94     0.48-0.50     0.48-0.57

    sequences (floor 0.85)
    DNC                     0.98-1.00     0.47-0.52     0.62-0.72
    MemoryAttention         0.97-0.99     0.47-0.55     0.62-0.72
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from sk_memsel import (
    DNCTransformer,
    MemoryAttentionTransformer,
    MemorySelectorTransformer,
)

#: small modules, enough epochs to learn the planted problems (about 1 to
#: 3 s a fit on one core)
TABLE_SETTINGS = {
    MemorySelectorTransformer: {
        "out_features": 4,
        "memory_size": 4,
        "embedding_size": 2,
        "hidden_size": 16,
        "max_epochs": 60,
    },
    DNCTransformer: {
        "hidden_size": 8,
        "memory_size": 4,
        "word_size": 4,
        "max_steps": 4,
        "max_epochs": 30,
        "batch_size": 32,
    },
    MemoryAttentionTransformer: {
        "units": 8,
        "memory_size": 4,
        "num_heads": 2,
        "max_epochs": 60,
        "batch_size": 32,
    },
}
SEQUENCE_SETTINGS = {
    DNCTransformer: {
        "hidden_size": 8,
        "memory_size": 4,
        "word_size": 4,
        "max_steps": 4,
        "conv_channels": 4,
        "max_epochs": 10,
        "batch_size": 32,
    },
    MemoryAttentionTransformer: {
        "units": 8,
        "memory_size": 4,
        "num_heads": 2,
        "max_epochs": 10,
        "batch_size": 32,
    },
}
#: held-out accuracy a transformer must reach; random features score about
#: 0.5 (a standard deviation of 0.025 on 400 or 300 test rows)
TABLE_FLOOR = 0.75
SEQUENCE_FLOOR = 0.85


def planted_table(seed, n_train=200, n_test=400, n_features=8):
    """``X_train, y_train, X_test, y_test``: inside or outside a circle."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n_train + n_test, n_features))
    # 2 ln 2 is the median of a chi-square with two degrees of freedom
    y = (X[:, 0] ** 2 + X[:, 1] ** 2 > 2 * np.log(2)).astype(int)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def planted_sequences(seed, n_train=150, n_test=300, n_timepoints=32):
    """``X_train, y_train, X_test, y_test``: a wave up-down or down-up."""
    rng = np.random.RandomState(seed)
    n = n_train + n_test
    X = rng.normal(scale=0.5, size=(n, 2, n_timepoints))
    y = rng.randint(0, 2, size=n)
    wave = 2 * np.sin(np.linspace(0, 2 * np.pi, 8))
    starts = rng.randint(0, n_timepoints - len(wave), size=n)
    for row, start in enumerate(starts):
        X[row, 0, start : start + len(wave)] += wave if y[row] else -wave
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


CASES = [
    pytest.param(
        cls, planted_table, TABLE_SETTINGS[cls], TABLE_FLOOR, id=f"{name}-table"
    )
    for cls, name in [
        (MemorySelectorTransformer, "MemorySelector"),
        (DNCTransformer, "DNC"),
        (MemoryAttentionTransformer, "MemoryAttention"),
    ]
] + [
    pytest.param(
        cls,
        planted_sequences,
        SEQUENCE_SETTINGS[cls],
        SEQUENCE_FLOOR,
        id=f"{name}-sequences",
    )
    for cls, name in [
        (DNCTransformer, "DNC"),
        (MemoryAttentionTransformer, "MemoryAttention"),
    ]
]


def held_out_score(cls, planted, settings, seed=0):
    X_train, y_train, X_test, y_test = planted(seed)
    pipeline = make_pipeline(
        cls(random_state=seed, **settings), LogisticRegression()
    ).fit(X_train, y_train)
    return pipeline.score(X_test, y_test)


@pytest.mark.parametrize("cls, planted, settings, floor", CASES)
def test_features_carry_the_signal(cls, planted, settings, floor):
    X_train, y_train, X_test, y_test = planted(0)
    raw = LogisticRegression().fit(X_train.reshape(len(X_train), -1), y_train)
    # the problem is out of reach of the linear model alone
    assert raw.score(X_test.reshape(len(X_test), -1), y_test) < floor
    score = held_out_score(cls, planted, settings)
    assert score > floor, (
        f"{cls.__name__}'s features give a held-out accuracy of {score:.3f}, "
        f"below the floor of {floor}"
    )


@pytest.mark.parametrize("cls, planted, settings, floor", CASES)
def test_noise_features_score_below_the_floor(
    cls, planted, settings, floor, monkeypatch
):
    transform = cls.transform
    # not the seed of the planted data, whose numbers these would repeat
    rng = np.random.RandomState(1000)

    def noise(self, X):  # random numbers of the shape of the features
        shape = transform(self, X).shape
        return rng.normal(size=shape).astype(np.float32)

    monkeypatch.setattr(cls, "transform", noise)
    assert held_out_score(cls, planted, settings) < floor
