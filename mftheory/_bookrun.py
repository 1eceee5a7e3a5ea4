"""Execute the book's notebooks once, in parallel, and prepare the executed copy that the
site is built from (build tooling, not part of the public API).

``make book`` and ``make test`` call::

    python -m mftheory._bookrun execute SRC DEST [--jobs 2] [--ci]

It copies the book's source tree ``SRC`` (``_config.yml``, ``_toc.yml``, ``book/``) to
``DEST``, executes every notebook of ``DEST/book`` with nbclient (the engine Jupyter Book
itself uses), ``--jobs`` notebooks at a time, each in its own process and kernel, in the
notebook's folder, and writes the executed notebooks in place. Then:

- a cell that raises fails the run with the cell's traceback (exit status 1), like nbval
  and Jupyter Book's ``raise_on_error``;
- every notebook's wall time and its kernel's peak memory are written to ``DEST/status.json``
  and, as a table with the date, the versions and the hardware, into the status page
  (``book/status.md``, where the ``{nb-exec-table}`` directive stood);
- ``DEST/_config.yml`` gets ``execute_notebooks: 'off'``: Jupyter Book then renders the
  executed notebooks without running them a second time.

Executing each chapter once, two at a time, instead of once under nbval and once more in the
build, halves the time of ``make test``; the chapters run exactly as before.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

STATUS_DIRECTIVE = "```{nb-exec-table}\n```"
# The last `make binder-check` (committed, shown on the status page beside the build's own table).
BINDER_RESULTS = "book/data/binder-check.json"
_CELL_TIMEOUT = 900
# A whole notebook: far above any chapter's time in either mode; a run past it is stopped and
# tried once more.
_NOTEBOOK_TIMEOUT = 1800


def _execute_one(src: str, dst: str, result: str) -> int:
    """Child process: execute notebook ``src`` into ``dst``; write timing/memory to ``result``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from jupyter_client.manager import KernelManager

    nb = nbformat.read(src, as_version=4)
    # Kernels talk over unix sockets in a private folder, not TCP ports: two kernels started at
    # the same moment over TCP can draw the same free ports, and one of the two runs then hangs.
    sockets = tempfile.mkdtemp(prefix="mftheory-kernel-")
    km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
    client = NotebookClient(nb, km=km, timeout=_CELL_TIMEOUT, startup_timeout=180,
                            resources={"metadata": {"path": str(Path(src).parent)}})
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a dead kernel or a timeout: report it
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if km.has_kernel:                    # we own the kernel manager: stop the kernel
            km.shutdown_kernel(now=True)
    seconds = time.perf_counter() - start
    # The kernel was this process's child: its peak resident memory (KiB on Linux).
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    nbformat.write(nb, dst)
    shutil.rmtree(sockets, ignore_errors=True)
    Path(result).write_text(json.dumps({"seconds": round(seconds, 1),
                                        "peak_mb": round(peak_kib / 1024), "error": error}))
    return 0 if error is None else 1


def _run(nb: Path, env: dict) -> dict:
    res = nb.with_suffix(".run.json")
    tmp = nb.with_suffix(".executing.ipynb")
    cmd = [sys.executable, "-m", "mftheory._bookrun", "_one", str(nb), str(tmp), str(res)]
    for attempt in (1, 2):
        # Its own session, so that a run that never ends can be stopped with its kernel.
        proc = subprocess.Popen(cmd, env=env, cwd=nb.parent, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            _, stderr = proc.communicate(timeout=_NOTEBOOK_TIMEOUT)
            break
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, stderr = proc.communicate()
            stderr = (f"stopped after {_NOTEBOOK_TIMEOUT} s (attempt {attempt} of 2)\n"
                      + (stderr or ""))
    if res.exists():
        info = json.loads(res.read_text())
        res.unlink()
    else:
        info = {"seconds": None, "peak_mb": None,
                "error": f"the executor died (status {proc.returncode}):\n{stderr[-3000:]}"}
    if tmp.exists():
        os.replace(tmp, nb)
    info["notebook"] = nb.name
    return info


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("torch", "numpy", "scipy", "jupyter-book", "myst-nb"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _gpu() -> str:
    try:
        import torch
    except ImportError:
        return "none"
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return "none"


def _status_markdown(status: dict) -> str:
    lines = [
        f"Built on {status['date']} in **{status['mode']}** mode "
        f"({status['jobs']} notebooks at a time) on {status['machine']}; GPU: {status['gpu']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in status["versions"].items()) + ".",
        "",
        "| Notebook | Status | Wall time (s) | Peak memory of the kernel (MB) |",
        "|---|---|---:|---:|",
    ]
    for row in status["notebooks"]:
        ok = "ran" if row["error"] is None else "**failed**"
        lines.append(f"| {{doc}}`{row['notebook'][:-6]}` | {ok} | {row['seconds']} | "
                     f"{row['peak_mb']} |")
    return "\n".join(lines)


def execute(src, dest, *, jobs: int = 2, ci: bool = True) -> dict:
    src, dest = Path(src).resolve(), Path(dest).resolve()
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(src / name, dest / name)
    shutil.copytree(src / "book", dest / "book",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    config = yaml.safe_load((dest / "_config.yml").read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MFTHEORY_PROGRESS"] = "0"      # a built page carries no progress bar of a sweep
    if ci:
        env["CI"] = "true"
    else:
        env.pop("CI", None)
    notebooks = sorted((dest / "book").rglob("*.ipynb"))
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(lambda nb: _run(nb, env), notebooks))
    status = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "mode": "CI (CI=true)" if ci else "default", "jobs": jobs,
              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
              "gpu": _gpu(), "versions": _versions(), "notebooks": rows,
              "total_seconds": round(time.perf_counter() - start, 1)}
    (dest / "status.json").write_text(json.dumps(status, indent=1))
    page = dest / "book" / "status.md"
    if page.exists():
        text = page.read_text()
        if STATUS_DIRECTIVE in text:
            table = _status_markdown(status)
            binder = dest / BINDER_RESULTS
            if binder.exists():
                table += ("\n\n## As Binder runs it\n\n`make binder-check` made a fresh "
                          "environment from `.binder/requirements.txt` alone and ran every chapter "
                          "top to bottom in default mode (no `CI` variable), one at a time, as a "
                          "reader on a 2 GB Binder machine would. Its last run:\n\n"
                          + _status_markdown(json.loads(binder.read_text())))
            page.write_text(text.replace(STATUS_DIRECTIVE, table))
    return status


# The offline edition: the three things a page loads from a CDN, from the npm packages that
# `make site-assets` unpacks into .cache/site-pkgs (MathJax 3, the Jupyter widgets' HTML manager,
# RequireJS), copied into the site's _static/offline and named in the configuration instead.
OFFLINE_ASSETS = {
    "mathjax": ("mathjax-3.2.2", "es5"),
    "embed-amd.js": ("jupyter-widgets-html-manager-1.0.6", "dist/embed-amd.js"),
    "require.js": ("requirejs-2.3.4", "require.js"),
}


def make_offline(src, assets) -> None:
    """Turn the executed book copy ``src`` into its offline edition, in place."""
    src, assets = Path(src).resolve(), Path(assets).resolve()
    static = src / "book" / "_static" / "offline"
    for name, (package, inner) in OFFLINE_ASSETS.items():
        origin = assets / package / inner
        if not origin.exists():
            raise SystemExit(f"{origin} is missing: run `make site-assets` first")
        target = static / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, target, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*-full*", "*-svg*", "mml-*"))
        else:
            shutil.copy(origin, target)
    # The widget manager's fonts sit next to it.
    dist = assets / OFFLINE_ASSETS["embed-amd.js"][0] / "dist"
    for font in dist.iterdir():
        if font.suffix in (".woff", ".woff2", ".ttf", ".eot", ".svg"):
            shutil.copy(font, static / font.name)
    config = yaml.safe_load((src / "_config.yml").read_text())
    sphinx_config = config.setdefault("sphinx", {}).setdefault("config", {})
    # Sphinx resolves mathjax_path and add_js_file's names relative to the static folders; the
    # loader resolves its data attributes relative to the page, hence "../_static/...".
    sphinx_config["mathjax_path"] = "offline/mathjax/tex-mml-chtml.js"
    loader = sphinx_config.get("nb_ipywidgets_js", {}).get("widgets-after-math.js")
    if loader is None:
        raise SystemExit("_config.yml: nb_ipywidgets_js has no widgets-after-math.js entry")
    sphinx_config["nb_ipywidgets_js"] = {"widgets-after-math.js": {
        "data-require": "../_static/offline/require.js",
        "data-embed": "../_static/offline/embed-amd.js"}}
    (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_one":
        return _execute_one(*argv[1:4])
    parser = argparse.ArgumentParser(prog="python -m mftheory._bookrun")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("execute", help="execute every notebook once into an executed copy")
    ex.add_argument("src")
    ex.add_argument("dest")
    ex.add_argument("--jobs", type=int, default=2)
    ex.add_argument("--ci", action="store_true", help="set CI=true (small scale)")
    off = sub.add_parser("offline", help="make an executed copy the offline edition")
    off.add_argument("src")
    off.add_argument("assets")
    args = parser.parse_args(argv)
    if args.command == "offline":
        make_offline(args.src, args.assets)
        print(f"offline edition prepared in {args.src}")
        return 0
    status = execute(args.src, args.dest, jobs=max(1, args.jobs), ci=args.ci)
    failed = [r for r in status["notebooks"] if r["error"] is not None]
    for r in status["notebooks"]:
        mark = "ok    " if r["error"] is None else "FAILED"
        print(f"{mark} {r['notebook']:32s} {r['seconds']!s:>7} s  {r['peak_mb']!s:>6} MB")
    print(f"executed {len(status['notebooks'])} notebooks in {status['total_seconds']} s "
          f"({status['mode']}, {status['jobs']} at a time)")
    for r in failed:
        print(f"\n===== {r['notebook']} failed =====\n{r['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
