"""The reader's site in a real browser: headless Debian chromium driven by Playwright.

Run by ``make test-site`` (part of ``make test``) against the site that ``make book-check`` built
(``SITE_ONLINE``) and its offline edition (``SITE_OFFLINE``). The machines that run the tests have
no internet: for the online site the three things a page loads from a CDN (MathJax 3, RequireJS and
the Jupyter widgets' HTML manager) are served from the npm packages in ``SITE_PKGS`` by
intercepting the requests; every other outside request is refused and recorded. The offline edition
is tested with every outside request refused, and must not even ask for them.

For every page: MathJax has finished, no math error and no raw ``$``, ``\\(`` or ``\\[`` is left
in the text; every image has loaded; the page's own scripts log no error; the theorem, proof,
exercise and solution blocks of the source are rendered; the download button gives the page's
notebook, valid JSON; the Binder and Colab buttons point at the page's notebook; a page with
explorers shows their saved state and has figures. Internal links and cross-references resolve.
Screenshots of each chapter's first screen, light and dark, go to ``SITE_SCREENSHOTS`` (default:
next to the site) to be looked at.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")

from sitekit import CHAPTERS, PAGES, source_text as _source_text  # noqa: E402


TEXT_OUTSIDE_CODE = """() => {
  const root = (document.querySelector('article') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight,'
    + ' .cell_output, .output').forEach(e => e.remove());
  return root.innerText;
}"""
RAW_MATH = re.compile(r"\\\(|\\\[|\$\$|\$[^\s$][^$\n]{0,300}?\$")


BLOCKS = {  # source directive -> CSS selector of its rendering
    "{prf:theorem}": "div.proof.theorem, div.theorem",
    "{prf:proof}": "div.proof",
    "{prf:lemma}": "div.proof.lemma, div.lemma",
    "{exercise}": "div.exercise",
    "{solution-start}": "div.solution, details.solution",
    "{solution}": "div.solution, details.solution",
}


@pytest.mark.parametrize("page", PAGES)
def test_page(visit, site, page):
    """One visit per page and site: everything a reader sees on it."""
    mode, folder, base = site
    v = visit(page)
    problems = []
    if v.wait_for_math():
        if v.page.locator("mjx-merror").count():
            problems.append("MathJax reports errors in formulas: "
                            + "; ".join(v.page.locator("mjx-merror").all_inner_texts()[:3]))
        if v.page.locator("mjx-container").count() == 0:
            problems.append("MathJax loaded but typeset nothing")
    raw = RAW_MATH.findall(v.page.evaluate(TEXT_OUTSIDE_CODE))
    if raw:
        problems.append(f"raw TeX left in the text: {raw[:5]}")
    # every image, lazy or not, has loaded
    v.page.evaluate("async () => { for (const img of document.images) { img.loading = 'eager';"
                    " try { await img.decode(); } catch (e) {} } }")
    broken = v.page.evaluate(
        "() => Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
        ".map(i => i.src)")
    if broken:
        problems.append(f"images that did not load: {broken}")
    # the source's theorem, proof, exercise and solution blocks are rendered
    src = _source_text(page)
    for directive, selector in BLOCKS.items():
        n_src = len(re.findall(r"^[`:]{3,}" + re.escape(directive), src, flags=re.M))
        n_html = v.page.locator(selector).count() if n_src else 0
        if n_html < n_src:
            problems.append(f"{n_src} {directive} in the source, {n_html} shown")
    if page in CHAPTERS:
        hrefs = v.page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
        downloads = [h for h in hrefs if h.endswith(f"{page}.ipynb") and h.startswith(base)]
        if not downloads:
            problems.append("no download link to its notebook")
        else:
            nb = json.loads((folder / urlparse(downloads[0]).path.lstrip("/")).read_text())
            assert nb["nbformat"] == 4 and nb["cells"]
        for host in ("mybinder.org", "colab.research.google.com"):
            links = [h for h in hrefs if host in h]
            if not links or not all(h.endswith(f"book/{page}.ipynb") for h in links):
                problems.append(f"{host} launch links do not open book/{page}.ipynb: {links}")
        # explorers: their saved state is shown, and there are figures beside them
        n_views = (folder / "book" / f"{page}.html").read_text().count(
            "application/vnd.jupyter.widget-view+json")
        if n_views:
            try:
                v.page.wait_for_selector(".widget-subarea .jupyter-widgets", timeout=20_000)
            except playwright_sync.TimeoutError:
                problems.append(f"{n_views} explorers, none rendered")
            n_images = v.page.locator("img").count()
            if n_images < n_views:
                problems.append(f"{n_views} explorers but only {n_images} figures")
    if v.errors:
        problems.append(f"console errors: {v.errors[:4]}")
    if mode == "offline":
        needed = [u for u in v.outside if re.search(r"mathjax|requirejs|html-manager", u)]
        if needed:
            problems.append(f"the offline edition still asks a CDN for {needed}")
    assert not problems, f"{page} ({mode}):\n- " + "\n- ".join(problems)


@pytest.mark.parametrize("page", [p for p in CHAPTERS if p == "signal_propagation"])
def test_offline_edition_works_from_a_folder(browser, site, page):
    """Opened from a folder (file://, a USB stick), with every request outside the folder
    refused: the formulas typeset and the explorers' saved state renders."""
    mode, folder, _ = site
    if mode != "offline":
        pytest.skip("the online site needs its CDNs")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside, errors = [], []

    def route(r):
        if r.request.url.startswith("file://"):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    try:
        tab.goto((folder / "book" / f"{page}.html").resolve().as_uri(), wait_until="load")
        tab.wait_for_function("() => window.MathJax && MathJax.startup && "
                              "MathJax.startup.promise", timeout=30_000)
        tab.evaluate("() => MathJax.startup.promise.then(() => true)")
        assert tab.locator("mjx-container").count() > 50
        tab.wait_for_selector(".widget-subarea .jupyter-widgets img", timeout=30_000)
        n_views = (folder / "book" / f"{page}.html").read_text().count(
            "application/vnd.jupyter.widget-view+json")
        shown = tab.locator(".widget-subarea .jupyter-widgets img.widget-image").count()
        assert shown >= 1 and n_views >= 1, (shown, n_views)
        needed = [u for u in outside if re.search(r"mathjax|requirejs|html-manager", u)]
        assert not needed, f"asked outside the folder for {needed}"
        real = [e for e in errors if "net::ERR_FAILED" not in e]
        assert not real, real
    finally:
        context.close()


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def test_internal_links_and_cross_references_resolve(site):
    mode, folder, base = site
    parsed = {}
    for html in folder.rglob("*.html"):
        p = _Links()
        p.feed(html.read_text(errors="replace"))
        parsed[html.resolve()] = p
    broken = []
    for html, p in parsed.items():
        if "_sources" in html.parts or "_static" in html.parts:
            continue
        for href in p.hrefs:
            if re.match(r"^[a-z][a-z0-9+.-]*:", href):     # http:, mailto:, javascript:
                continue
            target, frag = urldefrag(href)
            path = (html.parent / unquote(target)).resolve() if target else html
            if not path.exists():
                broken.append(f"{html.name}: {href}")
                continue
            if frag and path.suffix == ".html" and path in parsed and frag not in parsed[path].ids:
                broken.append(f"{html.name}: {href} (no such anchor)")
    assert not broken, f"{len(broken)} broken links: {broken[:10]}"


@pytest.mark.parametrize("page", CHAPTERS)
def test_first_screen_screenshots(visit, site, page):
    mode, folder, base = site
    if mode != "online":
        pytest.skip("screenshots of the online site only")
    out = Path(os.environ.get("SITE_SCREENSHOTS", folder.parent / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    for dark in (False, True):
        v = visit(page, dark=dark)
        v.wait_for_math()
        theme = v.page.evaluate("() => document.documentElement.dataset.theme || ''")
        assert theme == ("dark" if dark else "light"), f"{page}: theme {theme!r}"
        v.page.screenshot(path=str(out / f"{page}-{'dark' if dark else 'light'}.png"))
        v.close()
