"""Benchmark: the tanh phase diagram on a 200 x 200 grid (issue: chi1 + xi_q < 0.5 s; with c*, xi_c < 5 s).

Not a test (timings depend on the machine); run it with

    .venv/bin/python tests/benchmarks/bench_phase_diagram.py

It prints the time of the first call (which builds the cached moment tables), the times of
later calls, and the worst disagreement with the scalar functions at 60 random grid points.
"""

from __future__ import annotations

import math
import time

import numpy as np

from mftheory import signal


def main(n=200, n_check=60, seed=0):
    w = np.linspace(0.5, 5.0, n)
    b = np.linspace(0.0, 1.0, n)
    t = time.perf_counter()
    signal.phase_diagram("tanh", w[:2], b[:2], correlations=False)
    print(f"one-off table build (first call in a session): {time.perf_counter() - t:.3f} s")
    for correlations in (False, True):
        times = []
        for _ in range(3):
            t = time.perf_counter()
            pd = signal.phase_diagram("tanh", w, b, correlations=correlations)
            times.append(time.perf_counter() - t)
        what = "q*, chi1, xi_q, c*, xi_c" if correlations else "q*, chi1, xi_q"
        print(f"{n}x{n} grid, {what}: best {min(times):.3f} s, worst {max(times):.3f} s")
    rng = np.random.default_rng(seed)
    worst = dict.fromkeys(("q_star", "chi1", "xi_q", "c_star", "xi_c"), 0.0)
    for i, j in zip(rng.integers(0, n, n_check), rng.integers(0, n, n_check), strict=True):
        fp = signal.fixed_point("tanh", w[j], b[i])
        for k in worst:
            got, ref = getattr(pd, k)[i, j], getattr(fp, k)
            if math.isinf(ref):
                err = 0.0 if got == ref else math.inf
            elif k == "c_star":
                err = abs(got - ref)
            else:
                err = abs(got - ref) / abs(ref)
            worst[k] = max(worst[k], err)
    print(f"worst disagreement with fixed_point at {n_check} random points "
          "(relative; absolute for c*): " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    print(f"chaotic points: {int(np.sum(pd.chi1 > 1))} of {n * n}")


if __name__ == "__main__":
    main()
