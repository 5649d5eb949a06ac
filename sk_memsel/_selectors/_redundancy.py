"""The ranking that ``StochasticGatesSelector(redundancy="avoid")`` reads.

The gates score each column alone; a column that repeats one already kept
adds little. :func:`complementary_order` ranks the gates greedily by how
far each stands above the gates' noise floor, discounted by the share of
its variance that the columns already kept explain. The selector computes
the ranking at ``fit`` and at every ``partial_fit`` call, on
:func:`correlation_sample` of the training rows, and its
``get_support`` / ``feature_importances_`` only read it.
"""

import numpy as np

#: rows the correlations are measured on, at most, and fewer with very many
#: columns, to hold at most CORRELATION_VALUES values (32 MB as float32, kept
#: with the fitted selector) but never fewer than 100 rows
CORRELATION_ROWS = 2000
CORRELATION_VALUES = 8_000_000

#: the share of p that a gate at the floor keeps in the "avoid" score
_FLOOR_SHARE = 1e-9


def _evenly_spaced(n_rows, n_used):
    return np.unique(np.linspace(0, n_rows - 1, n_used).round()).astype(np.intp)


def correlation_sample(X, previous=None, seen=0):
    """The rows ``redundancy="avoid"`` measures correlations on, and their count.

    An evenly spread sample of at most ``CORRELATION_ROWS`` rows (fewer when
    ``X`` has very many columns, never fewer than 100), as float32.
    ``previous``, the sample of ``seen`` earlier rows (a ``partial_fit``
    stream), shares the sample with ``X`` in proportion to the rows each
    stands for, so that the sample spreads over every row trained on.

    Returns
    -------
    sample : ndarray of shape (n_used, n_features)
    seen : int
        The rows the sample stands for, ``seen + len(X)``.
    """
    n_rows, n_columns = X.shape
    size = min(CORRELATION_ROWS, max(100, CORRELATION_VALUES // max(n_columns, 1)))
    seen = 0 if previous is None else seen  # no sample stands for no rows
    total = seen + n_rows
    parts = []
    if seen:
        from_old = min(len(previous), round(size * seen / total))
        parts.append(previous[_evenly_spaced(len(previous), from_old)])
    from_new = min(n_rows, size - sum(len(part) for part in parts))
    if from_new:
        parts.append(np.asarray(X[_evenly_spaced(n_rows, from_new)], dtype=np.float32))
    return np.concatenate(parts), total


def unit_columns(sample):
    """``sample``'s columns centred and scaled to unit norm, in float64.

    ``Z.T @ Z`` then holds the Pearson correlations; a constant column
    becomes zeros.
    """
    Z = np.asarray(sample, dtype=np.float64)
    Z -= Z.mean(axis=0)
    scale = np.sqrt((Z**2).sum(axis=0))
    Z /= np.where(scale > 0, scale, np.inf)
    return Z


def complementary_order(X, probs, codes, length, *, rows=None):
    """The first ``length`` gates in the order ``redundancy="avoid"`` keeps them.

    Returns ``(order, scores)``: ``scores`` gives every gate its ``(p -
    m) * (1 - r**2)`` when it was kept, or, for a gate not among the first
    ``length``, at the end. A score only falls as gates are kept, so the
    scores fall along the order and the ``k`` largest are its first ``k``.

    Greedy: each step keeps the gate of largest ``(p - m) * (1 - r**2)``, with
    ``p`` its open probability, ``m`` the median of the gates' probabilities
    (their noise floor: most gates carry nothing, and a gate at the floor
    tells nothing however open it is; at or below it only a vanishing
    ``1e-9 * p`` is left, so that ``p * (1 - r**2)`` orders those gates) and
    ``r`` the largest absolute Pearson correlation between one of its columns
    and a column already kept, measured on :func:`correlation_sample` of ``X``
    (or on ``rows``, made by :func:`unit_columns`, with ``X=None``).
    ``1 - r**2`` is the share of the column's variance that the kept column
    it follows most closely leaves unexplained (a straight-line fit on it).
    Discounting from the floor, not from 0, keeps a column whose gate stands
    far above the floor even when it repeats a kept one in part (the
    redundant but relevant columns of MADELON-like data: 14 to 16 of 20
    found, 12 to 13 with ``1 - r``, 4 to 6 from 0), while near-copies of a
    kept column still
    fall to the floor. A constant column (every column of a group constant)
    tells nothing: its ``r`` is 1 from the start, so it comes last. Of equal
    scores, the more probable gate comes first, then the earlier one.
    """
    Z = unit_columns(correlation_sample(X)[0]) if rows is None else rows
    n_gates = len(probs)
    grouped = not np.array_equal(codes, np.arange(len(codes)))
    constant = np.ones(n_gates, dtype=bool)
    np.logical_and.at(constant, codes, ~Z.any(axis=0))
    largest_r = constant.astype(np.float64)
    free = np.ones(n_gates, dtype=bool)
    order = np.empty(length, dtype=np.intp)
    scores = np.empty(n_gates)
    # at the floor (half the gates, or all where few are kept), the old
    # order p * (1 - r**2) decides: a vanishing share of p keeps it
    above_floor = np.maximum(probs - np.median(probs), 0.0) + _FLOOR_SHARE * probs
    for step in range(length):
        unexplained = 1.0 - largest_r**2
        score = np.where(free, above_floor * unexplained, -np.inf)
        best = int(np.argmax(score))
        tied = score == score[best]
        if np.count_nonzero(tied) > 1:  # e.g. every score 0: the likelier gate
            best = int(np.argmax(np.where(tied, probs, -np.inf)))
        order[step] = best
        scores[best] = score[best]
        free[best] = False
        r = np.abs(Z[:, codes == best].T @ Z).max(axis=0)
        if grouped:
            per_gate = np.zeros(n_gates)
            np.maximum.at(per_gate, codes, r)
            r = per_gate
        np.maximum(largest_r, np.minimum(r, 1.0), out=largest_r)
    # below the last kept one's, ties going to the earlier gate as in argmax
    unexplained = 1.0 - largest_r**2  # after the last kept one
    scores[free] = np.minimum(above_floor * unexplained, scores[order[-1]])[free]
    return order, scores
