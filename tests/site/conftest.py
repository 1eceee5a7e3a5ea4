"""Fixtures of the site's browser tests: a built site served on localhost, one browser."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

from sitekit import CHROMIUM, CHROMIUM_ARGS, SITES, Quiet, Visit  # noqa: E402


@pytest.fixture(scope="session", params=[k for k, v in SITES.items() if v] or ["none"])
def site(request):
    """(mode, folder, base URL) of a built site served on localhost."""
    mode = request.param
    if mode == "none":
        pytest.fail("set SITE_ONLINE and/or SITE_OFFLINE to built sites (run `make test-site`)")
    folder = Path(SITES[mode])
    assert (folder / "index.html").exists(), f"no site at {folder}: run `make book-check`"
    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield mode, folder, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="session")
def browser():
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def visit(browser, site):
    visits = []

    def _open(page, **kw):
        v = Visit(browser, site, page, **kw)
        visits.append(v)
        return v
    yield _open
    for v in visits:
        v.close()
