"""mftheory.sweep: sequential and Dask runs agree, interrupted sweeps resume, failures are
retried then reported. The Dask tests use a real LocalCluster with two worker processes."""

import functools
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from mftheory import sweep as sw

# Workers import nothing from tests/: ship this module's functions to them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def noisy_mean(a, b, seed):
    """A seeded toy experiment with an array output."""
    rng = np.random.default_rng([seed, a, int(1000 * b)])
    x = rng.standard_normal(100) * b + a
    return {"mean": x.mean(), "hist": np.histogram(x, bins=4, range=(-3, 6))[0]}


def flaky(a, seed, folder, fail_times):
    """Fails the first fail_times[a] calls at each point (attempts counted in files, so that
    worker processes share the count)."""
    folder = Path(folder)
    attempt = len(list(folder.glob(f"a{a}-s{seed}-*")))
    (folder / f"a{a}-s{seed}-{attempt}-{os.getpid()}").touch()
    if attempt < fail_times.get(str(a), 0):
        raise RuntimeError(f"planned failure {attempt} at a={a}")
    return {"value": float(a + seed)}


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", env={"OMP_NUM_THREADS": "1"})
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


AXES = {"a": [0, 1, 2], "b": [0.5, 1.5]}


def test_sequential_result_is_labelled_and_deterministic():
    r1 = sw.sweep(noisy_mean, AXES, seeds=[3, 4], name="toy", progress=False)
    r2 = sw.sweep(noisy_mean, AXES, seeds=[3, 4], name="toy", progress=False)
    assert r1.shape == (3, 2, 2) and r1.n_points == 12 and len(r1.rows) == 12
    assert r1.computed == 12 and r1.loaded == 0 and not r1.failures
    m = r1.array("mean")
    assert m.shape == (3, 2, 2) and np.array_equal(m, r2.array("mean"))
    assert r1.array("hist").shape == (3, 2, 2, 4)
    # array() puts each point where its parameters say
    row = r1.select(a=2, b=1.5, seed=4)[0]
    assert m[2, 1, 1] == row["mean"] == pytest.approx(noisy_mean(2, 1.5, 4)["mean"], abs=0)


def test_dask_gives_the_same_numbers_as_sequential(client):
    seq = sw.sweep(noisy_mean, AXES, seeds=[3, 4], name="toy", progress=False)
    dist = sw.sweep(noisy_mean, AXES, seeds=[3, 4], name="toy", progress=False, client=client)
    assert dist.computed == 12 and not dist.failures
    assert np.array_equal(seq.array("mean"), dist.array("mean"))
    assert np.array_equal(seq.array("hist"), dist.array("hist"))
    # the points really ran in the two worker processes
    pids = {p["pid"] for p in dist.provenance}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_store_resumes_and_rerun_computes_nothing(tmp_path):
    r1 = sw.sweep(noisy_mean, AXES, seeds=[0], name="toy", store=tmp_path, progress=False)
    assert r1.computed == 6 and len(list((tmp_path / "toy-v1").glob("*.json"))) == 6
    r2 = sw.sweep(noisy_mean, AXES, seeds=[0], name="toy", store=tmp_path, progress=False)
    assert r2.computed == 0 and r2.loaded == 6
    assert np.array_equal(r1.array("mean"), r2.array("mean"))
    # a new version does not reuse stale points
    r3 = sw.sweep(noisy_mean, AXES, seeds=[0], name="toy", version="2", store=tmp_path,
                  progress=False)
    assert r3.computed == 6


KILLED_SCRIPT = textwrap.dedent("""
    import sys, time
    from mftheory import sweep as sw

    def slow(i, seed):
        time.sleep(0.4)
        return {"value": float(i * 10 + seed)}

    sw.sweep(slow, {"i": list(range(12))}, seeds=[0], name="slow", store=sys.argv[1],
             progress=False)
""")


def slow(i, seed):
    return {"value": float(i * 10 + seed)}


def test_killed_sweep_resumes_with_only_the_missing_points(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(KILLED_SCRIPT)
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, str(script), str(store)])
    folder = store / "slow-v1"
    deadline = time.time() + 60
    while time.time() < deadline and len(list(folder.glob("*.json"))) < 3:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = len(list(folder.glob("*.json")))
    assert 3 <= finished < 12, "the sweep was not interrupted half-way"
    r = sw.sweep(slow, {"i": list(range(12))}, seeds=[0], name="slow", store=store,
                 progress=False)
    assert r.loaded == finished and r.computed == 12 - finished
    assert r.array("value").ravel().tolist() == [10.0 * i for i in range(12)]
    assert len(list(folder.glob("*.json"))) == 12


@pytest.mark.parametrize("where", ["sequential", "dask"])
def test_failing_point_is_retried_then_reported_while_others_finish(tmp_path, where, request):
    client = request.getfixturevalue("client") if where == "dask" else None
    import functools

    # a=1 fails once (a retry saves it); a=2 fails 5 times (more than the retry): reported.
    fn = functools.partial(flaky, folder=str(tmp_path), fail_times={"1": 1, "2": 5})
    with pytest.raises(sw.SweepError) as info:
        sw.sweep(fn, {"a": [0, 1, 2, 3]}, seeds=[0], name="flaky", retries=1,
                 store=tmp_path / "store", client=client, progress=False)
    res = info.value.result
    assert [r["a"] for r in res.rows] == [0, 1, 3]
    assert len(res.failures) == 1 and res.failures[0]["params"] == {"a": 2, "seed": 0}
    assert "planned failure" in res.failures[0]["traceback"]
    assert "1 of 4 points failed" in str(info.value)
    assert len(list(tmp_path.glob("a2-s0-*"))) == 2          # first try + one retry
    assert len(list(tmp_path.glob("a1-s0-*"))) == 2
    assert np.isnan(res.array("value")[2, 0])
    # the successes were stored: a rerun recomputes only the failed point (which now succeeds)
    fn_ok = functools.partial(flaky, folder=str(tmp_path), fail_times={})
    again = sw.sweep(fn_ok, {"a": [0, 1, 2, 3]}, seeds=[0], name="flaky",
                     store=tmp_path / "store", client=client, progress=False)
    assert again.loaded == 3 and again.computed == 1 and not again.failures


def test_report_mode_returns_instead_of_raising():
    def boom(a):
        raise ValueError("no")
    r = sw.sweep(boom, {"a": [1, 2]}, name="boom", retries=0, on_error="report",
                 progress=False)
    assert not r.rows and len(r.failures) == 2


def test_named_grids_list_and_load(tmp_path, capsys):
    assert sw.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("gradient_descent.spurious_minima", "gradient_descent.spurious_minima_normal",
                 "signal_propagation.simulations",
                 "batchnorm.trainability", "fisher.lr_gamma"):
        assert name in out
        assert sw.load_grid(name, "small", store=tmp_path) is None


def test_run_and_load_a_named_grid(tmp_path):
    # the Fisher chapter's CPU grid (about a second): stored, loaded back, reassembled
    from mftheory import fisher

    r = sw.run_grid("fisher.lr_gamma", "small", store=tmp_path, progress=False)
    assert r.computed == 4 and r.loaded == 0 and r.array("lam").shape == (4,)
    assert r.describe() == "fisher.lr_gamma.small: 4 points computed here"
    loaded = sw.load_grid("fisher.lr_gamma", "small", store=tmp_path)
    assert loaded.loaded == 4 and np.array_equal(loaded.array("lam"), r.array("lam"))
    assert all("date" in p and "numpy" in p for p in loaded.provenance)
    assert loaded.describe().startswith("fisher.lr_gamma.small: 4 of 4 points loaded,\n"
                                        "  computed ")
    grid = sw.fisher_grid_results(loaded)
    X, Y = fisher.digits_problem(128)
    direct = fisher.lr_gamma_grid([64, 64, 64, 64, 10], X, Y, grid.gammas[1:3], grid.etas,
                                  0.9, 40)
    for field in ("loss", "exploded", "lam", "eta_star", "initial_loss"):
        np.testing.assert_array_equal(getattr(grid, field)[1:3], getattr(direct, field))
    assert grid.exploded.any() and not grid.exploded.all()    # the map has both outcomes
    with pytest.raises(ValueError, match="fisher.lr_gamma"):
        sw.fisher_grid_results(r.rows)
    with pytest.raises(ValueError, match="misses"):
        sw.fisher_grid_results(sw.SweepResult(**{**r.__dict__, "rows": r.rows[:3]}))


def _tiny_signal(chunks):
    g = sw._signal_grid("small")
    return functools.partial(g.fn, width=40, depth=6, q0=1.0, c0=0.9, master=11, chunks=chunks,
                             plan={"ordered": (6, 2), "chaotic": (6, 1)})


def test_signal_chunks_are_the_networks_of_one_call(client):
    # split over two worker processes in three chunks: the arrays of one simulate() call
    import torch

    from mftheory import nets

    r = sw.sweep(_tiny_signal(3), {"point": ["ordered", "chaotic"], "chunk": [0, 1, 2]},
                 name="signal-tiny", client=client, progress=False)
    sims = sw.simulation_results(r)
    for point, n_pairs in (("ordered", 2), ("chaotic", 1)):
        sw2, sb2 = sw._SIGNAL_POINTS[point]
        direct = nets.simulate("tanh", sw2, sb2, width=40, depth=6, n_seeds=6, seed=11,
                               n_pairs=n_pairs, dtype=torch.float32)
        got = sims[point]
        assert (got.width, got.depth, got.n_seeds, got.sigma_w2) == (40, 6, 6, sw2)
        for field in ("q", "c", "grad_sq", "q_single", "c_single"):
            np.testing.assert_array_equal(getattr(got, field), getattr(direct, field))
    with pytest.raises(ValueError, match="signal_propagation"):
        sw.simulation_results(r.rows)
    partial = sw.sweep(_tiny_signal(3), {"point": ["ordered"], "chunk": [0, 1, 2]},
                       name="signal-tiny", progress=False)
    partial.rows.pop()
    with pytest.raises(ValueError, match="misses chunks"):
        sw.simulation_results(partial)


def test_batchnorm_grid_points_are_the_chapter_trainings():
    from mftheory import batchnorm, data

    g = sw._bn_grid("small")
    fn = functools.partial(g.fn, width=8, steps=4, lr=0.1)
    r = sw.sweep(fn, {"B": [8, 16], "depth": [2]}, seeds=[0, 1], name="bn-tiny", progress=False)
    acc = r.array("accuracy")
    assert acc.shape == (2, 1, 2) and np.all((acc >= 0) & (acc <= 1))
    split = data.load_digits_split(seed=0)
    assert acc[1, 0, 1] == batchnorm.train_bn_mlp(split, depth=2, B=16, width=8, steps=4,
                                                  lr=0.1, seed=1)


@pytest.mark.parametrize("kwargs, match", [
    ({"fn": 3}, "callable"),
    ({"axes": [1, 2]}, "mapping"),
    ({"axes": {"a": []}}, "empty"),
    ({"axes": {"a": "abc"}}, "sequence"),
    ({"axes": {"a": [1, 1]}}, "repeated"),
    ({"axes": {"a": [float("nan")]}}, "finite"),
    ({"axes": {"a": [None]}}, "ints, floats"),
    ({"axes": {"a b": [1]}}, "identifiers"),
    ({"axes": {"seed": [1]}, "seeds": [1]}, "either"),
    ({"seeds": [-1]}, "seeds"),
    ({"seeds": []}, "non-empty"),
    ({"retries": -1}, "retries"),
    ({"on_error": "ignore"}, "on_error"),
    ({"store": 3.5}, "store"),
    ({"progress": "yes"}, "progress"),
    ({"name": "a/b"}, "name"),
])
def test_bad_input_raises_value_error(kwargs, match):
    args = {"fn": noisy_mean, "axes": {"a": [1], "b": [1.0]}, "seeds": [0], "name": "x",
            "progress": False}
    args.update(kwargs)
    fn, axes = args.pop("fn"), args.pop("axes")
    with pytest.raises(ValueError, match=match):
        sw.sweep(fn, axes, **args)


def test_bad_settings_raise_value_error():
    with pytest.raises(ValueError, match="local"):
        sw.client_from_env("bogus")
    with pytest.raises(ValueError, match="local"):
        sw.client_from_env(3)
    assert sw.client_from_env("") is None and sw.client_from_env("none") is None
    with pytest.raises(ValueError, match="name"):
        sw.run_grid("nope")
    with pytest.raises(ValueError, match="size"):
        sw.load_grid("gradient_descent.spurious_minima", "huge")
    r = sw.sweep(noisy_mean, {"a": [1], "b": [1.0]}, seeds=[0], name="x", progress=False)
    with pytest.raises(ValueError, match="outputs"):
        r.array("nope")
    with pytest.raises(ValueError, match="axis"):
        r.select(c=1)


def test_spurious_grid_reassembles_into_search_results(tmp_path, monkeypatch):
    # a two-point version of the chapter's grid: the same point function, tiny sizes
    from mftheory import landscape

    g = sw._gd_grid("small")
    fn = functools.partial(g.fn, runs=6, n_steps=50, lr=0.3, use_device=False)
    r = sw.sweep(fn, {"k": [3], "extra": [0, 1]}, seeds=[0, 1], name="gd-tiny",
                 progress=False)
    search = sw.spurious_search_results(r)
    assert set(search) == {(3, 3), (3, 4)}
    direct = landscape.spurious_minima_search(3, 4, 6, n_steps=50, lr=0.3, seed=1)
    got = search[3, 4]
    assert got.value.shape == (12,) and got.spurious.dtype == bool
    np.testing.assert_array_equal(got.value[6:], direct.value)
    np.testing.assert_array_equal(got.spurious[6:], direct.spurious)
    with pytest.raises(ValueError, match="SweepResult"):
        sw.spurious_search_results(r.rows)


def test_chapter_grid_prefers_a_stored_full_grid(tmp_path, monkeypatch):
    # a named grid whose "full" size is tiny, so that the three cases run in seconds
    def tiny(size):
        g = sw._bn_grid("small")
        steps = 3 if size == "small" else 4
        return sw._Grid(g.fn, {"B": [8], "depth": [2]}, (0,),
                        {"width": 8, "steps": steps, "lr": 0.1}, "1", f"tiny {size}")

    monkeypatch.setitem(sw.GRIDS, "batchnorm.trainability", tiny)
    name = "batchnorm.trainability"
    small = sw.chapter_grid(name, "small", store=tmp_path)         # nothing stored: CPU size
    assert small.name == f"{name}.small" and small.computed == 1 and small.loaded == 0
    assert not any(tmp_path.iterdir())                              # ... and nothing written
    full = sw.chapter_grid(name, "full", store=tmp_path)           # full scale: run and stored
    assert full.name == f"{name}.full" and full.computed == 1
    again = sw.chapter_grid(name, "small", store=tmp_path)         # stored full wins
    assert again.name == f"{name}.full" and again.loaded == 1 and again.computed == 0
    assert "1 of 1 points loaded,\n  computed " in again.describe()
    assert again.rows == full.rows
    with pytest.raises(ValueError, match="scale"):
        sw.chapter_grid(name, "medium", store=tmp_path)
    with pytest.raises(ValueError, match="name"):
        sw.chapter_grid("nope", store=tmp_path)


def test_progress_bar_is_silent_in_ci_and_in_page_builds(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("MFTHEORY_PROGRESS", raising=False)
    bar = sw._progress(3, None)
    assert not bar.disable
    bar.close()
    for var, value in (("CI", "true"), ("MFTHEORY_PROGRESS", "0")):
        monkeypatch.setenv(var, value)
        bar = sw._progress(3, None)
        assert bar.disable
        bar.close()
        monkeypatch.delenv(var)
    assert sw._progress(0, True) is None


def test_load_grid_falls_back_to_the_results_committed_with_the_book(tmp_path, monkeypatch):
    def tiny(size):
        g = sw._bn_grid("small")
        return sw._Grid(g.fn, {"B": [8], "depth": [2]}, (0,),
                        {"width": 8, "steps": 3, "lr": 0.1}, "1", f"tiny {size}")

    monkeypatch.setitem(sw.GRIDS, "batchnorm.trainability", tiny)
    name = "batchnorm.trainability"
    book, home, empty = tmp_path / "book", tmp_path / "home", tmp_path / "empty"
    computed = sw.run_grid(name, "full", store=book, progress=False)
    monkeypatch.setattr(sw, "book_store", lambda: book)
    monkeypatch.delenv("MFTHEORY_SWEEPS", raising=False)
    monkeypatch.setattr(sw.Path, "home", classmethod(lambda cls: home))
    found = sw.load_grid(name)                       # not in ~/.cache: the book's copy
    assert found is not None and found.rows == computed.rows and found.loaded == 1
    assert sw.chapter_grid(name, "small").name == f"{name}.full"
    monkeypatch.setenv("MFTHEORY_SWEEPS", str(empty))   # an explicit store is the only one
    assert sw.load_grid(name) is None
    assert sw.chapter_grid(name, "small").name == f"{name}.small"
    assert sw.load_grid(name, store=book) is not None


def test_the_normal_spurious_grid_is_the_same_grid_from_normal_weights():
    u, v = sw._gd_grid("full"), sw._gd_normal_grid("full")
    assert (u.axes, u.seeds, u.version) == (v.axes, v.seeds, v.version)
    assert v.options == {**u.options, "init": "normal"} and "init" not in u.options
