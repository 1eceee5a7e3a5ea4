"""Shared pieces of the site's browser tests: the pages, the CDN copies, a page visit."""

from __future__ import annotations

import http.server
import json
import os
import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SITES = {name: os.environ.get(var) for name, var in
         (("online", "SITE_ONLINE"), ("offline", "SITE_OFFLINE"))}
PKGS = Path(os.environ.get("SITE_PKGS", ROOT / ".cache" / "site-pkgs"))
# CDN prefix -> local folder (the npm packages that `make site-assets` unpacks)
CDN = {
    "https://cdn.jsdelivr.net/npm/mathjax@3/es5/": PKGS / "mathjax-3.2.2" / "es5",
    "https://cdn.jsdelivr.net/npm/requirejs@2.3.4/": PKGS / "requirejs-2.3.4",
    "https://cdn.jsdelivr.net/npm/@jupyter-widgets/html-manager@1.0.6/dist/":
        PKGS / "jupyter-widgets-html-manager-1.0.6" / "dist",
}
CONTENT_TYPES = {".js": "application/javascript", ".woff": "font/woff", ".woff2": "font/woff2",
                 ".ttf": "font/ttf", ".css": "text/css", ".json": "application/json"}


def _pages():
    toc = (ROOT / "_toc.yml").read_text()
    names = re.findall(r"(?:file|root):\s*book/(\w+)", toc)
    return names


PAGES = _pages()
CHAPTERS = [p for p in PAGES if (ROOT / "book" / f"{p}.ipynb").exists()]


def source_text(page: str) -> str:
    nb = ROOT / "book" / f"{page}.ipynb"
    if nb.exists():
        cells = json.loads(nb.read_text())["cells"]
        return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return (ROOT / "book" / f"{page}.md").read_text()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Visit:
    """A page loaded in a fresh browser context, with what it asked of the outside world."""

    def __init__(self, browser, site, page, *, dark=False):
        self.mode, self.folder, self.base = site
        self.outside, self.served, self.errors = [], [], []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900},
                                           color_scheme="dark" if dark else "light")
        if dark:
            self.context.add_init_script(
                "localStorage.setItem('mode', 'dark'); localStorage.setItem('theme', 'dark');")
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.url = urljoin(self.base, f"book/{page}.html")
        self.page.goto(self.url, wait_until="load", timeout=60_000)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base):
            return route.continue_()
        if self.mode == "online":
            for prefix, folder in CDN.items():
                if url.startswith(prefix):
                    path = folder / unquote(urlparse(url).path[len(urlparse(prefix).path):])
                    if path.is_file():
                        self.served.append(url)
                        return route.fulfill(path=str(path), headers={
                            "Access-Control-Allow-Origin": "*",
                            "Content-Type": CONTENT_TYPES.get(path.suffix, "text/plain")})
        self.outside.append(url)
        return route.abort()

    def _console(self, msg):
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        text = msg.text
        # A refused outside request is logged as a network error: recorded in self.outside.
        if "net::ERR_FAILED" in text and not where.startswith(self.base):
            return
        if "net::ERR_FAILED" in text and any(u in text for u in self.outside):
            return
        self.errors.append(f"{text} ({where})")

    def wait_for_math(self):
        has_mathjax = self.page.evaluate(
            "() => Array.from(document.scripts).some(s => /mathjax|tex-mml-chtml/i.test(s.src))")
        if not has_mathjax:
            return False
        self.page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=30_000)
        self.page.evaluate("() => MathJax.startup.promise.then(() => true)")
        return True

    def close(self):
        self.context.close()
