"""How long scikit-learn's ``check_estimator`` takes on every estimator's defaults.

The test suite runs scikit-learn's estimator checks with fast settings
(``tests/test_common.py``); a user who runs them on our estimators as they
come, with default parameters, should not wait long either. This runs
``check_estimator(Estimator(random_state=0), on_fail=None)`` for each public
estimator and reports its wall-clock time, the number of checks and the
failed ones (with the first line of their error), and the total time.

Run from the repository root::

    python benchmarks/bench_check_estimator.py
    python benchmarks/bench_check_estimator.py \
        --params '{"ConcreteAutoencoderSelector": {"k": 2}}'
"""

import argparse
import inspect
import json
import platform
import time
import warnings

import torch
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import check_estimator

import sk_memsel


def public_estimators():
    for name in sk_memsel.__all__:
        obj = getattr(sk_memsel, name)
        if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
            yield obj


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--estimators", nargs="+", help="class names (default: all)")
    parser.add_argument(
        "--params", type=json.loads, default={}, help="JSON: class name -> params"
    )
    args = parser.parse_args(argv)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}"
    )
    total = 0.0
    for cls in public_estimators():
        if args.estimators and cls.__name__ not in args.estimators:
            continue
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params = {"random_state": 0, **args.params.get(cls.__name__, {})}
            results = check_estimator(cls(**params), on_fail=None)
        seconds = time.perf_counter() - start
        total += seconds
        failed = [r for r in results if r["status"] == "failed"]
        print(
            f"{cls.__name__}{args.params.get(cls.__name__, '')}: {seconds:.1f} s, "
            f"{len(results)} checks, "
            f"{len(failed)} failed",
            flush=True,
        )
        for r in failed:
            message = str(r["exception"]).strip().splitlines()
            print(f"    {r['check_name']}: {message[0] if message else ''}")
    print(f"total: {total:.1f} s")


if __name__ == "__main__":
    main()
