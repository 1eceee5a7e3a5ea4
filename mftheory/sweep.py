r"""Parameter sweeps: a function over a grid of named axes and seeds, resumable, on Dask.

The book's heaviest experiments are grids of independent runs (spurious-minima restarts over
:math:`(k, n)`, finite-network simulations over :math:`(\sigma_w^2, \sigma_b^2)`, ...). This
module runs such a grid

- **in-process and sequentially** by default, so that the chapters and CI need no cluster;
- on a **Dask** cluster when asked: ``MFTHEORY_DASK=local`` starts a
  :class:`distributed.LocalCluster` on this machine (one worker per GPU, each pinned to its
  device, when GPUs are present; otherwise one single-threaded worker per core),
  ``MFTHEORY_DASK=tcp://host:port`` connects to an existing scheduler (a JupyterHub's Dask
  Gateway, a SLURM allocation started with dask-jobqueue, ...), and ``client=`` takes a
  :class:`distributed.Client` directly.

With a ``store`` (a folder), every finished point is written, as it completes, to its own JSON
file keyed by the sweep's name, its version and the point's parameters, together with its
provenance (date, versions, hardware). A rerun loads the finished points and computes only the
missing ones, so an interrupted sweep loses at most the points in flight. A point that raises is
retried ``retries`` times (on Dask, a worker that dies is replaced and its task rescheduled);
a point that still fails is reported with its traceback, after every other point has finished:
:func:`sweep` raises :class:`SweepError`, whose ``result`` holds everything that succeeded.

Results are returned as a :class:`SweepResult`: one row per point (its parameters and the
function's outputs) and :meth:`SweepResult.array` to get any scalar output as an array shaped
by the axes, ready to plot.

The function is called as ``fn(**params)`` (with ``seed=`` when ``seeds`` are given) and must
return a mapping from output names to JSON-representable values (numbers, strings, booleans,
lists or numpy arrays); a bare number is stored as ``{'value': x}``. Every output goes through
JSON, so a result is the same whether it was computed now, on another machine, or loaded.

Named grids of the book (``GRIDS``) run outside the notebooks with::

    python -m mftheory.sweep list
    python -m mftheory.sweep run gradient_descent.spurious_minima --size full --dask local

and the chapters load what such a run stored (:func:`chapter_grid`: the stored full-size grid
when there is one, else the grid at the chapter's scale, computed there).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import itertools
import json
import math
import numbers
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ._validate import check_choice, check_positive_int

__all__ = [
    "sweep",
    "SweepResult",
    "SweepError",
    "client_from_env",
    "sweep_dir",
    "run_grid",
    "load_grid",
    "spurious_search_results",
    "simulation_results",
    "fisher_grid_results",
    "chapter_grid",
    "book_store",
    "GRIDS",
]

_AXIS_TYPES = (numbers.Integral, numbers.Real, str)


class SweepError(RuntimeError):
    """Some points still failed after their retries; ``result`` holds every point that succeeded
    and ``result.failures`` the failed points with their tracebacks."""

    def __init__(self, result: SweepResult):
        self.result = result
        lines = [f"{len(result.failures)} of {result.n_points} points failed "
                 f"(the other {result.n_points - len(result.failures)} finished):"]
        for f in result.failures[:5]:
            last = f["traceback"].strip().splitlines()[-1] if f["traceback"] else f["error"]
            lines.append(f"  {f['params']}: {last}")
        super().__init__("\n".join(lines))


@dataclasses.dataclass
class SweepResult:
    """The outcome of :func:`sweep`.

    Attributes
    ----------
    name, version : str
        The sweep's identity in the store.
    axes : dict
        Axis name -> list of values, in grid order (``'seed'`` last when seeds were given).
    rows : list of dict
        One per successful point: its parameters and the function's outputs.
    failures : list of dict
        One per failed point: ``params``, ``error`` (the exception's repr) and ``traceback``.
    computed, loaded : int
        Points computed in this call, and points read back from the store.
    provenance : list of dict
        Where and when each row was computed (aligned with ``rows``).
    """

    name: str
    version: str
    axes: dict
    rows: list
    failures: list
    computed: int
    loaded: int
    provenance: list

    @property
    def n_points(self) -> int:
        return int(np.prod([len(v) for v in self.axes.values()]))

    @property
    def shape(self) -> tuple:
        return tuple(len(v) for v in self.axes.values())

    def array(self, field: str) -> np.ndarray:
        """Output ``field`` as a float array of shape ``self.shape`` (plus the output's own shape
        for array outputs); points that failed are NaN."""
        if not isinstance(field, str):
            raise ValueError(f"`field` must be the name of an output, got {field!r}")
        if not self.rows:
            raise ValueError("the sweep has no successful point")
        if field not in self.rows[0] or field in self.axes:
            names = sorted(k for k in self.rows[0] if k not in self.axes)
            raise ValueError(f"`field` must be one of the outputs {names}, got {field!r}")
        sample = np.asarray(self.rows[0][field], dtype=float)
        out = np.full(self.shape + sample.shape, np.nan)
        index = {name: {_canon(v): i for i, v in enumerate(vals)}
                 for name, vals in self.axes.items()}
        for row in self.rows:
            pos = tuple(index[name][_canon(row[name])] for name in self.axes)
            value = np.asarray(row[field], dtype=float)
            if value.shape != sample.shape:
                raise ValueError(f"output {field!r} has different shapes at different points; "
                                 "use .rows for ragged outputs")
            out[pos] = value
        return out

    def describe(self) -> str:
        """Where the rows come from, to print under a chapter's cell: how many were computed
        now or loaded, and, for loaded rows, on a second line, when, on which hosts and
        hardware, with which torch."""
        n = len(self.rows)
        if self.loaded == 0:
            return f"{self.name}: {n} points computed here"
        dates = sorted(p.get("date", "?") for p in self.provenance)
        hosts = sorted({p.get("host", "?") for p in self.provenance})
        hardware = sorted({p.get("gpu", "CPU") for p in self.provenance})
        torches = sorted({p.get("torch", "?") for p in self.provenance})
        when = dates[0][:10] if dates[0][:10] == dates[-1][:10] else \
            f"{dates[0][:10]} to {dates[-1][:10]}"
        return (f"{self.name}: {self.loaded} of {n} points loaded,\n  computed {when} on "
                f"{', '.join(hosts)} ({', '.join(hardware)}), torch {', '.join(torches)}")

    def select(self, **where) -> list:
        """The rows whose parameters equal ``where`` (e.g. ``select(k=8)``)."""
        for name in where:
            if name not in self.axes:
                raise ValueError(f"`{name}` is not an axis; the axes are {list(self.axes)}")
        return [r for r in self.rows
                if all(_canon(r[n]) == _canon(v) for n, v in where.items())]


# ------------------------------------------------------------------------------------------
# Validation and keys


def _canon(v):
    """A hashable, JSON-stable form of an axis value (1 and 1.0 differ; numpy scalars don't)."""
    if isinstance(v, np.generic):
        v = v.item()
    return (type(v).__name__, v)


def _check_axes(axes, seeds):
    if not isinstance(axes, Mapping):
        raise ValueError(f"`axes` must be a mapping from axis names to sequences of values, "
                         f"got {type(axes).__name__}")
    out = {}
    for name, values in axes.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"axis names must be Python identifiers (they become keyword "
                             f"arguments), got {name!r}")
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, range)):
            raise ValueError(f"axis `{name}` must be a sequence of values, got {values!r}")
        vals = []
        for v in values:
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, bool) or not isinstance(v, _AXIS_TYPES):
                raise ValueError(f"axis `{name}` may hold ints, floats and strings, got {v!r}")
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"axis `{name}` must hold finite numbers, got {v!r}")
            vals.append(v)
        if not vals:
            raise ValueError(f"axis `{name}` is empty")
        if len({_canon(v) for v in vals}) != len(vals):
            raise ValueError(f"axis `{name}` has repeated values: {vals}")
        out[name] = vals
    if seeds is not None:
        if "seed" in out:
            raise ValueError("give the seeds either as `seeds=` or as an axis named 'seed', not both")
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, np.ndarray, range)):
            raise ValueError(f"`seeds` must be a sequence of integers >= 0, got {seeds!r}")
        seeds = [check_positive_int("seeds", s, minimum=0) for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"`seeds` must be a non-empty sequence of distinct integers, got {seeds}")
        out["seed"] = seeds
    if not out:
        raise ValueError("a sweep needs at least one axis or `seeds`")
    return out


def _point_key(params: dict) -> str:
    text = json.dumps(params, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _jsonable(x):
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "c":
            raise TypeError("complex outputs cannot be stored")
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if hasattr(x, "detach"):                 # a torch tensor
        return x.detach().cpu().numpy().tolist()
    raise TypeError(f"cannot store an output of type {type(x).__name__}")


def _normalise_output(out):
    if isinstance(out, Mapping):
        out = dict(out)
    elif isinstance(out, numbers.Number) or isinstance(out, np.generic):
        out = {"value": out}
    else:
        raise TypeError(f"the sweep function must return a mapping or a number, "
                        f"got {type(out).__name__}")
    # Through JSON and back: the result is identical whether computed here, elsewhere or loaded.
    return json.loads(json.dumps(_jsonable(out)))


def _provenance() -> dict:
    prov = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(), "pid": os.getpid(), "machine": platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "cpus": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        prov["torch"] = torch.__version__
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            prov["gpu"] = torch.cuda.get_device_name(torch.cuda.current_device())
    return prov


def _run_point(fn, params):
    """Executed where the point runs (here or on a Dask worker)."""
    out = _normalise_output(fn(**params))
    for name in params:
        if name in out:
            raise ValueError(f"the output name {name!r} clashes with an axis name")
    return out, _provenance()


# ------------------------------------------------------------------------------------------
# The store


def sweep_dir() -> Path:
    """Default folder of stored sweeps: ``$MFTHEORY_SWEEPS``, else ``~/.cache/mftheory/sweeps``."""
    env = os.environ.get("MFTHEORY_SWEEPS")
    return Path(env) if env else Path.home() / ".cache" / "mftheory" / "sweeps"


class _Store:
    def __init__(self, root, name, version):
        self.folder = Path(root) / f"{name}-v{version}"

    def load(self, key):
        path = self.folder / f"{key}.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None                        # a torn write: recompute the point

    def save(self, key, params, output, provenance):
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"params": params, "output": output,
                                   "provenance": provenance}, sort_keys=True))
        os.replace(tmp, self.folder / f"{key}.json")   # atomic: a point is all there or absent


# ------------------------------------------------------------------------------------------
# Executors


def client_from_env(spec: str | None = None):
    """The Dask client that ``spec`` (default: ``$MFTHEORY_DASK``) asks for, or ``None``.

    ``None``, ``''`` or ``'none'``: no Dask (run in-process). ``'local'``: a new
    :class:`distributed.LocalCluster` on this machine — one worker per visible GPU, each worker
    pinned to its own device through ``CUDA_VISIBLE_DEVICES`` (or dask-cuda's
    ``LocalCUDACluster`` when it is installed); without GPUs ``$MFTHEORY_DASK_WORKERS`` (default:
    the number of cores) single-threaded worker processes. ``'tcp://host:port'`` (or any other
    scheduler address): a client of that existing scheduler.
    """
    if spec is None:
        spec = os.environ.get("MFTHEORY_DASK", "")
    if not isinstance(spec, str):
        raise ValueError(f"`spec` (the Dask setting, default $MFTHEORY_DASK) must be 'local', a "
                         f"scheduler address such as 'tcp://host:8786', or '' for none; "
                         f"got {spec!r}")
    spec = spec.strip()
    if spec in ("", "none"):
        return None
    from distributed import Client, LocalCluster

    if spec == "local":
        n_gpu = _gpu_count()
        env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        if n_gpu:
            try:
                from dask_cuda import LocalCUDACluster
                return Client(LocalCUDACluster())
            except ImportError:
                cluster = LocalCluster(n_workers=n_gpu, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
                client = Client(cluster)
                client.register_plugin(_PinGPU(n_gpu))
                return client
        raw = os.environ.get("MFTHEORY_DASK_WORKERS", "")
        try:
            n = int(raw) if raw else (os.cpu_count() or 1)
        except ValueError:
            raise ValueError(f"MFTHEORY_DASK_WORKERS must be a positive integer, got {raw!r}") \
                from None
        n = check_positive_int("MFTHEORY_DASK_WORKERS", n)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", env=env)
        return Client(cluster)
    if "://" in spec:
        return Client(spec)
    raise ValueError(f"`spec` (the Dask setting, default $MFTHEORY_DASK) must be 'local', a "
                     f"scheduler address such as 'tcp://host:8786', or '' for none; got {spec!r}")


def _gpu_count() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


try:
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:                                     # pragma: no cover - dask is pinned
    _WorkerPlugin = object


class _PinGPU(_WorkerPlugin):
    """Give worker ``i`` of a LocalCluster the GPU ``i mod n`` (before torch touches CUDA)."""

    name = "mftheory-pin-gpu"

    def __init__(self, n_gpu):
        self.n_gpu = n_gpu

    def setup(self, worker):
        try:
            index = int(worker.name) % self.n_gpu
        except (TypeError, ValueError):
            index = abs(hash(worker.name)) % self.n_gpu
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index)


def _progress(total, enabled):
    if total == 0:
        return None
    if enabled is None:
        enabled = not os.environ.get("CI") and os.environ.get("MFTHEORY_PROGRESS", "") != "0"
    try:
        from tqdm.auto import tqdm
    except ImportError:                                 # pragma: no cover - tqdm is pinned
        return None
    return tqdm(total=total, disable=not enabled, leave=False, desc="sweep")


# ------------------------------------------------------------------------------------------
# The sweep


def sweep(fn: Callable, axes: Mapping, *, seeds=None, name: str | None = None,
          version: str = "1", store=None, retries: int = 1, client=None,
          progress: bool | None = None, on_error: str = "raise") -> SweepResult:
    """Run ``fn`` at every point of the grid ``axes`` (times ``seeds``).

    Parameters
    ----------
    fn : callable
        Called as ``fn(**point)``; returns a mapping of outputs (or a number). On Dask it must
        be importable or picklable by cloudpickle (a module-level function is safest).
    axes : mapping
        Axis name -> sequence of ints, floats or strings. The grid is their product, in order.
    seeds : sequence of int, optional
        Adds a last axis ``seed`` (passed to ``fn`` as ``seed=``).
    name, version : str
        The sweep's identity in the store (default name: ``fn``'s module and qualified name).
        Change ``version`` whenever ``fn`` changes what it computes, so that stale points are not
        reused.
    store : path-like, ``True`` or ``None``
        Folder of stored points (``True``: :func:`sweep_dir`). ``None`` (the default) keeps
        nothing: every call recomputes every point, as the chapters do.
    retries : int
        Further attempts for a point that raises (default 1).
    client : distributed.Client, optional
        Run on this Dask client. Default: :func:`client_from_env` (``$MFTHEORY_DASK``); with
        neither, in-process and sequentially.
    progress : bool, optional
        A tqdm bar; default on, except when ``CI`` is set or ``MFTHEORY_PROGRESS=0`` (set while
        the book's pages are executed, so that no page keeps a finished bar).
    on_error : {'raise', 'report'}
        After all points have run, failed points raise :class:`SweepError` (default) or are only
        listed in ``result.failures``.
    """
    if not callable(fn):
        raise ValueError(f"`fn` must be callable, got {fn!r}")
    grid = _check_axes(axes, seeds)
    if name is None:
        name = f"{getattr(fn, '__module__', 'fn')}.{getattr(fn, '__qualname__', 'fn')}"
    for label, text in (("name", name), ("version", version)):
        if not isinstance(text, str) or not text or any(c in text for c in "/\\\0") \
                or "<" in text:
            raise ValueError(f"`{label}` must be a non-empty string usable in a file name "
                             f"(no slashes; a lambda or local function needs an explicit name), "
                             f"got {text!r}")
    retries = check_positive_int("retries", retries, minimum=0)
    on_error = check_choice("on_error", on_error, ("raise", "report"))
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"`progress` must be True, False or None, got {progress!r}")
    if store is True:
        store = sweep_dir()
    if store is not None and not isinstance(store, (str, os.PathLike)):
        raise ValueError(f"`store` must be a folder path, True or None, got {store!r}")
    db = _Store(store, name, version) if store is not None else None

    names = list(grid)
    points = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
    keys = [_point_key(p) for p in points]
    done, prov = {}, {}
    for key in keys:
        rec = db.load(key) if db is not None else None
        if rec is not None:
            done[key], prov[key] = rec["output"], rec.get("provenance", {})
    loaded = len(done)
    todo = [(k, p) for k, p in zip(keys, points, strict=True) if k not in done]
    failures = []

    def finish(key, params, output, provenance):
        done[key], prov[key] = output, provenance
        if db is not None:
            db.save(key, params, output, provenance)

    if client is None:
        client = client_from_env()
    bar = _progress(len(todo), progress)
    try:
        if client is None:
            for key, params in todo:
                for attempt in range(retries + 1):
                    try:
                        output, provenance = _run_point(fn, params)
                    except Exception as exc:  # noqa: BLE001 - reported, never dropped
                        if attempt == retries:
                            failures.append({"params": params, "error": repr(exc),
                                             "traceback": traceback.format_exc()})
                    else:
                        finish(key, params, output, provenance)
                        break
                if bar is not None:
                    bar.update()
        else:
            _run_on_dask(client, fn, todo, retries, finish, failures, bar)
    finally:
        if bar is not None:
            bar.close()

    rows, provs = [], []
    for key, params in zip(keys, points, strict=True):
        if key in done:
            rows.append({**params, **done[key]})
            provs.append(prov[key])
    result = SweepResult(name=name, version=version, axes=grid, rows=rows, failures=failures,
                         computed=len(done) - loaded, loaded=loaded, provenance=provs)
    if failures and on_error == "raise":
        raise SweepError(result)
    return result


def _run_on_dask(client, fn, todo, retries, finish, failures, bar):
    from distributed import as_completed

    if not os.environ.get("CI") and getattr(client, "dashboard_link", None):
        print(f"Dask dashboard: {client.dashboard_link}")
    futures = {}
    for key, params in todo:
        fut = client.submit(_run_point, fn, params, retries=retries, pure=False,
                            key=f"mftheory-sweep-{key}-{time.monotonic_ns()}")
        futures[fut] = (key, params)
    for fut in as_completed(futures):
        key, params = futures[fut]
        if fut.status == "finished":
            output, provenance = fut.result()
            finish(key, params, output, provenance)
        else:
            exc = fut.exception()
            tb = fut.traceback()
            text = "".join(traceback.format_exception(type(exc), exc, tb)) if tb is not None \
                else repr(exc)
            failures.append({"params": params, "error": repr(exc), "traceback": text})
        fut.release()
        if bar is not None:
            bar.update()


# ------------------------------------------------------------------------------------------
# The book's named grids


def _spurious_point(k, extra, seed, *, runs, n_steps, lr, use_device, init="uniform"):
    """One chunk of spurious-minima restarts for the network with k teacher and n = k + extra
    student units (gradient-descent chapter), from Xavier-``init`` initial weights."""
    from . import landscape, runtime

    n_runs = runs[str(k)] if isinstance(runs, Mapping) else runs
    device = runtime.device() if use_device else None
    res = landscape.spurious_minima_search(k, k + extra, n_runs, n_steps=n_steps, lr=lr,
                                           seed=seed, device=device, init=init)
    # per run (lambda_min is NaN for runs that were not candidates); W is not kept
    return {"n": k + extra, "n_runs": n_runs, "n_spurious": int(res.spurious.sum()),
            "value": res.value, "grad_norm": res.grad_norm, "lambda_min": res.lambda_min,
            "spurious": res.spurious.astype(bool)}


def spurious_search_results(result: SweepResult) -> dict:
    """The spurious-minima grid as the gradient-descent chapter uses it: ``{(k, n):
    landscape.SearchResult}`` with the runs of all seeds of each ``(k, n)`` concatenated (``W``
    is an empty array: the weights are not stored)."""
    from .landscape import SearchResult

    if not isinstance(result, SweepResult) or not {"k", "extra"} <= set(result.axes):
        raise ValueError("`result` must be a SweepResult of the grid "
                         "'gradient_descent.spurious_minima'")
    out = {}
    for row in result.rows:
        kn = (int(row["k"]), int(row["n"]))
        parts = out.setdefault(kn, {"value": [], "grad_norm": [], "lambda_min": [],
                                    "spurious": []})
        for name in parts:
            parts[name].append(np.asarray(row[name], dtype=bool if name == "spurious"
                                          else float))
    return {kn: SearchResult(np.empty((0,)), *(np.concatenate(p[name]) for name in
                                               ("value", "grad_norm", "lambda_min", "spurious")))
            for kn, p in sorted(out.items())}


# the signal-propagation chapter's two tanh networks: (sigma_w2, sigma_b2)
_SIGNAL_POINTS = {"ordered": (1.5, 0.05), "chaotic": (2.5, 0.05)}


def _signal_point(point, chunk, *, width, depth, plan, chunks, q0, c0, master):
    """Networks ``chunk * n .. (chunk + 1) * n - 1`` (``n = networks / chunks``) of the
    signal-propagation chapter's simulation at ``point`` ('ordered' or 'chaotic'): per network,
    per layer, q, c, |delta|^2 and one pair's q and c."""
    import torch

    from . import nets, runtime

    n_nets, n_pairs = plan[point]
    per = n_nets // chunks
    sw2, sb2 = _SIGNAL_POINTS[point]
    sim = nets.simulate("tanh", sw2, sb2, width=width, depth=depth, q0=q0, c0=c0,
                        n_seeds=per, n_pairs=n_pairs, seed=master, first=chunk * per,
                        device=runtime.device(), dtype=torch.float32)
    return {"sigma_w2": sw2, "sigma_b2": sb2, "width": width, "depth": depth, "q0": q0,
            "c0": c0, "master_seed": master, "n_pairs": n_pairs, "q": sim.q, "c": sim.c,
            "grad_sq": sim.grad_sq, "q_single": sim.q_single, "c_single": sim.c_single}


def simulation_results(result: SweepResult) -> dict:
    """The grid 'signal_propagation.simulations' as the chapter uses it: ``{point:
    nets.Simulation}`` for 'ordered' and 'chaotic', the chunks' networks concatenated in order
    (the same arrays as one :func:`mftheory.nets.simulate` call over all the networks)."""
    from .nets import Simulation

    if not isinstance(result, SweepResult) or set(result.axes) != {"point", "chunk"}:
        raise ValueError("`result` must be a SweepResult of the grid "
                         "'signal_propagation.simulations'")
    out = {}
    for point in result.axes["point"]:
        rows = sorted(result.select(point=point), key=lambda r: r["chunk"])
        if len(rows) != len(result.axes["chunk"]):
            raise ValueError(f"the grid misses chunks of the point {point!r}")
        r0 = rows[0]
        arrays = {name: np.concatenate([np.asarray(r[name], dtype=float) for r in rows])
                  for name in ("q", "c", "grad_sq", "q_single", "c_single")}
        out[point] = Simulation(act="tanh", sigma_w2=r0["sigma_w2"], sigma_b2=r0["sigma_b2"],
                                width=r0["width"], depth=r0["depth"], q0=r0["q0"], c0=r0["c0"],
                                seed=r0["master_seed"], **arrays)
    return out


_DIGITS = {}


def _digits():
    """The batch-norm chapter's digits split (loaded once per process)."""
    from . import data

    if "split" not in _DIGITS:
        _DIGITS["split"] = data.load_digits_split(seed=0)
    return _DIGITS["split"]


def _bn_point(B, depth, seed, *, width, steps, lr):
    """Test accuracy of one batch-normalized ReLU MLP trained on digits (batch-norm chapter)."""
    from . import batchnorm, runtime

    acc = batchnorm.train_bn_mlp(_digits(), depth=depth, B=B, width=width, steps=steps, lr=lr,
                                 seed=seed, device=runtime.device())
    return {"accuracy": acc}


def _fisher_point(gamma, *, width, m, steps, etas, momentum):
    """One row of the Fisher chapter's (gamma, learning rate) map: lambda_max at initialization
    and heavy ball at every learning rate, for one gamma (the rates run batched)."""
    from . import fisher, runtime

    X, Y = fisher.digits_problem(m)
    g = fisher.lr_gamma_grid([64] + [width] * 3 + [10], X, Y, [gamma], etas, momentum, steps,
                             device=runtime.device())
    return {"width": width, "momentum": momentum, "etas": list(etas), "lam": g.lam[0],
            "loss": g.loss[0], "exploded": g.exploded[0], "initial_loss": g.initial_loss[0]}


def fisher_grid_results(result: SweepResult):
    """The grid 'fisher.lr_gamma' as a :class:`mftheory.fisher.Grid` (rows: gamma; columns: the
    learning rates), the same object :func:`mftheory.fisher.lr_gamma_grid` returns."""
    from .fisher import Grid

    if not isinstance(result, SweepResult) or list(result.axes) != ["gamma"]:
        raise ValueError("`result` must be a SweepResult of the grid 'fisher.lr_gamma'")
    if len(result.rows) != len(result.axes["gamma"]):
        raise ValueError("the grid misses some values of gamma")
    rows = result.rows
    mu = rows[0]["momentum"]
    lam = np.array([r["lam"] for r in rows], dtype=float)
    return Grid(np.array(result.axes["gamma"], dtype=float), np.array(rows[0]["etas"], dtype=float),
                np.array([r["loss"] for r in rows], dtype=float),
                np.array([r["exploded"] for r in rows], dtype=bool), lam, 2 * (1 + mu) / lam,
                np.array([r["initial_loss"] for r in rows], dtype=float))


@dataclasses.dataclass(frozen=True)
class _Grid:
    fn: Callable
    axes: dict
    seeds: tuple
    options: dict
    version: str
    about: str

    def call(self):
        import functools
        return functools.partial(self.fn, **self.options)


def _gd_grid(size):
    if size == "small":       # the chapter's CPU run: 400 restarts at k = n = 6, 200 at 7 and 8
        return _Grid(_spurious_point, {"k": [6, 7, 8], "extra": [0]}, (1, 2, 3, 4),
                     {"runs": {"6": 100, "7": 50, "8": 50}, "n_steps": 2000, "lr": 0.3,
                      "use_device": False}, "2",
                     "spurious minima of k-teacher ReLU networks, CPU size")
    return _Grid(_spurious_point, {"k": list(range(6, 13)), "extra": [0, 1]}, tuple(range(10)),
                 {"runs": 100, "n_steps": 2000, "lr": 0.3, "use_device": True}, "2",
                 "spurious minima, k = 6..12 and n = k, k + 1, 1000 restarts each")


def _gd_normal_grid(size):
    g = _gd_grid(size)      # the same grid from Xavier-normal initial weights (same variance)
    return dataclasses.replace(g, options={**g.options, "init": "normal"},
                               about=g.about + ", Xavier-normal initial weights")


def _signal_grid(size):
    base = {"q0": 1.0, "c0": 0.9, "master": 2024}
    if size == "small":       # the chapter's CPU run: width 1000, depth 30, one chunk per point
        return _Grid(_signal_point, {"point": ["ordered", "chaotic"], "chunk": [0]}, (),
                     {**base, "width": 1000, "depth": 30, "chunks": 1,
                      "plan": {"ordered": (40, 4), "chaotic": (24, 16)}}, "2",
                     "tanh networks of width 1000, depth 30: 40 and 24 networks")
    return _Grid(_signal_point, {"point": ["ordered", "chaotic"], "chunk": list(range(8))}, (),
                 {**base, "width": 4096, "depth": 100, "chunks": 8,
                  "plan": {"ordered": (64, 8), "chaotic": (64, 8)}}, "2",
                 "tanh networks of width 4096, depth 100: 64 per point, in chunks of 8")


def _bn_grid(size):
    if size == "small":       # the chapter's CPU run
        return _Grid(_bn_point, {"B": [8, 32], "depth": [4, 16, 32, 48]}, (0,),
                     {"width": 64, "steps": 150, "lr": 0.1}, "1",
                     "BN ReLU MLPs of width 64 on digits, 150 SGD steps, one seed")
    return _Grid(_bn_point, {"B": [8, 16, 32, 64, 128],
                             "depth": [4, 8, 16, 24, 32, 40, 48, 64, 80]}, (0, 1, 2),
                 {"width": 384, "steps": 1500, "lr": 0.1}, "1",
                 "BN ReLU MLPs of width 384 on digits, 1500 SGD steps, three seeds")


def _fisher_grid(size):
    def geom(a, b, n):
        return [float(x) for x in np.geomspace(a, b, n)]

    if size == "small":       # the chapter's CPU run
        return _Grid(_fisher_point, {"gamma": geom(0.25, 4, 4)}, (),
                     {"width": 64, "m": 128, "steps": 40, "etas": geom(2e-3, 3, 7),
                      "momentum": 0.9}, "1",
                     "train-mode BN MLPs of width 64 on 128 digits, 40 heavy-ball steps")
    return _Grid(_fisher_point, {"gamma": geom(0.1, 10, 10)}, (),
                 {"width": 1000, "m": 1024, "steps": 300, "etas": geom(1e-4, 3, 12),
                  "momentum": 0.9}, "1",
                 "train-mode BN MLPs of width 1000 on 1024 digits, 300 heavy-ball steps")


GRIDS = {
    "gradient_descent.spurious_minima": _gd_grid,
    "gradient_descent.spurious_minima_normal": _gd_normal_grid,
    "signal_propagation.simulations": _signal_grid,
    "batchnorm.trainability": _bn_grid,
    "fisher.lr_gamma": _fisher_grid,
}
"""Named grids of the book: name -> function of the size ('small' or 'full')."""


def _grid(name, size):
    name = check_choice("name", name, tuple(GRIDS))
    size = check_choice("size", size, ("small", "full"))
    return name, size, GRIDS[name](size)


def run_grid(name: str, size: str = "full", *, store=True, client=None,
             progress: bool | None = None) -> SweepResult:
    """Run (or resume) the book's grid ``name`` at ``size`` into ``store`` (default:
    :func:`sweep_dir`)."""
    name, size, g = _grid(name, size)
    return sweep(g.call(), g.axes, seeds=list(g.seeds) or None, name=f"{name}.{size}", version=g.version,
                 store=store, client=client, progress=progress)


def book_store() -> Path | None:
    """The results committed with the book (``book/data/sweeps`` of a checkout of its
    repository), or ``None`` when the package is installed without the book."""
    folder = Path(__file__).resolve().parents[1] / "book" / "data" / "sweeps"
    return folder if folder.is_dir() else None


def load_grid(name: str, size: str = "full", *, store=None) -> SweepResult | None:
    """The stored result of the book's grid ``name`` at ``size`` when every point is present,
    else ``None`` (nothing is computed).

    ``store``: a folder. Default: ``$MFTHEORY_SWEEPS`` alone when it is set; otherwise
    ``~/.cache/mftheory/sweeps``, then the results committed with the book
    (:func:`book_store`), the first that holds every point.
    """
    name, size, g = _grid(name, size)
    if store is None:
        roots = [sweep_dir()]
        if not os.environ.get("MFTHEORY_SWEEPS") and book_store() is not None:
            roots.append(book_store())
    else:
        if not isinstance(store, (str, os.PathLike)):
            raise ValueError(f"`store` must be a folder path or None, got {store!r}")
        roots = [store]
    grid = _check_axes(g.axes, list(g.seeds) or None)
    names = list(grid)
    for root in roots:
        db = _Store(root, f"{name}.{size}", g.version)
        rows, provs = [], []
        for combo in itertools.product(*grid.values()):
            params = dict(zip(names, combo, strict=True))
            rec = db.load(_point_key(params))
            if rec is None:
                break
            rows.append({**params, **rec["output"]})
            provs.append(rec.get("provenance", {}))
        else:
            return SweepResult(name=f"{name}.{size}", version=g.version, axes=grid, rows=rows,
                               failures=[], computed=0, loaded=len(rows), provenance=provs)
    return None


def chapter_grid(name: str, scale: str | None = None, *, store=None) -> SweepResult:
    """What a chapter shows for its grid ``name``.

    1. The full-size grid, when every point of it is stored (in ``store``; by default in the
       user's store or with the book, see :func:`load_grid`), whatever the scale: a site built on a small machine shows a full-size
       run made elsewhere (on GPUs, on a cluster), and :meth:`SweepResult.describe` says so,
       with the run's date and hardware.
    2. Otherwise, at scale ``'full'`` (default :func:`mftheory.runtime.scale`), the full-size
       grid run here (resumably; on Dask when ``$MFTHEORY_DASK`` says so) and stored.
    3. Otherwise the CPU-size grid, computed here in-process, no progress bar, nothing stored.
    """
    from . import runtime

    name = check_choice("name", name, tuple(GRIDS))
    scale = runtime.scale() if scale is None else check_choice("scale", scale,
                                                               ("small", "full"))
    full = load_grid(name, "full", store=store)
    if full is not None:
        return full
    if scale == "full":
        return run_grid(name, "full", store=True if store is None else store)
    return run_grid(name, "small", store=None, progress=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mftheory.sweep",
                                     description="Run the book's parameter grids, resumably.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the named grids")
    run = sub.add_parser("run", help="run or resume a grid")
    run.add_argument("name", choices=sorted(GRIDS))
    run.add_argument("--size", choices=("small", "full"), default="full")
    run.add_argument("--dask", default=None,
                     help="'local', a scheduler address (tcp://host:port), or 'none' "
                          "(default: $MFTHEORY_DASK, else none)")
    run.add_argument("--store", default=None, help=f"results folder (default: {sweep_dir()})")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, make in sorted(GRIDS.items()):
            for size in ("small", "full"):
                g = make(size)
                n = int(np.prod([len(v) for v in g.axes.values()])) * max(len(g.seeds), 1)
                print(f"{name:36s} {size:5s} {n:4d} points  {g.about}")
        return 0
    client = client_from_env(args.dask)
    start = time.perf_counter()
    try:
        result = run_grid(args.name, args.size, store=args.store or True, client=client)
    except SweepError as err:
        print(err, file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print(f"{args.name} ({args.size}): {result.computed} points computed, {result.loaded} loaded, "
          f"in {time.perf_counter() - start:.1f} s; stored in "
          f"{Path(args.store) if args.store else sweep_dir()}")
    return 0


if __name__ == "__main__":          # pragma: no cover
    sys.exit(main())
