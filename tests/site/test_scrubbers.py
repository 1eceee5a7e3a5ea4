"""The site scrubbers (mftheory.widgets.scrubber) in a real browser: they move without a kernel.

Run by ``make test-site`` with the fixtures of ``test_site.py`` (the built site served on
localhost, headless Debian chromium, every outside request refused or served from the local npm
packages). For every chapter whose notebook calls ``scrubber(``: the page shows as many scrubbers
as the notebook makes; each one's slider, moved with the keyboard as a reader would (End, then
Home), changes the displayed frame (another image, which has loaded) and the shown parameter
value (the one of the new position, out of the labels embedded in the page); no error is
logged while a slider moves. Screenshots of the first scrubber of each chapter, before and
after the move, go to ``SITE_SCREENSHOTS`` (default: next to the site) to be looked at.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

try:                        # the fixtures (site, browser, visit) are in conftest.py
    from sitekit import CHAPTERS, ROOT
except ImportError:         # or, in the older layout, in test_site.py
    from test_site import CHAPTERS, ROOT, browser, site, visit  # noqa: F401


def _n_scrubbers(page: str) -> int:
    cells = json.loads((ROOT / "book" / f"{page}.ipynb").read_text())["cells"]
    return sum("".join(c["source"]).count("scrubber(") for c in cells
               if c["cell_type"] == "code")


SCRUBBER_PAGES = [p for p in CHAPTERS if _n_scrubbers(p)]

STATE = """s => ({src: s.querySelector('img').currentSrc || s.querySelector('img').src,
               loaded: s.querySelector('img').complete && s.querySelector('img').naturalWidth > 0,
               value: s.querySelector('input').value,
               shown: s.querySelector('output').textContent})"""


def _state(scrubber):
    scrubber.locator("img").evaluate("i => i.decode().catch(() => null)")
    return scrubber.evaluate(STATE)


@pytest.mark.parametrize("page", SCRUBBER_PAGES)
def test_scrubbers_move_without_a_kernel(visit, site, page):
    mode, folder, base = site
    assert (folder / "book" / f"{page}.html").exists(), f"{page} is not in the built site"
    v = visit(page)
    scrubbers = v.page.locator(".mftheory-scrubber")
    n = scrubbers.count()
    assert n == _n_scrubbers(page), f"{page}: {n} scrubbers on the page"
    out = Path(os.environ.get("SITE_SCREENSHOTS", folder.parent / "screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        s = scrubbers.nth(i)
        s.scroll_into_view_if_needed()
        v.page.wait_for_timeout(300)        # what scrolling starts elsewhere (frozen widgets)
        logged = len(v.errors)              # the page's own errors are test_site.py's business
        slider = s.locator("input[type=range]")
        last = int(slider.get_attribute("max"))
        assert last >= 1, f"{page}, scrubber {i}: only one frame"
        start = _state(s)
        assert start["loaded"], f"{page}, scrubber {i}: the first frame did not load"
        if i == 0:
            s.screenshot(path=str(out / f"{page}-scrubber-{mode}-before.png"))
        for key, index in (("End", last), ("Home", 0)):
            if int(start["value"]) == index:
                continue
            slider.focus()
            slider.press(key)
            moved = _state(s)
            assert int(moved["value"]) == index, f"{page}, scrubber {i}: {key} did not move"
            assert moved["src"] != start["src"], f"{page}, scrubber {i}: the frame did not change"
            assert moved["loaded"], f"{page}, scrubber {i}: the new frame did not load"
            assert moved["shown"] != start["shown"], f"{page}, scrubber {i}: the value shown " \
                f"stayed {start['shown']!r}"
            script = s.evaluate("s => s.querySelector('script').textContent")
            labels = json.loads(re.search(r"var t=(\[.*?\]);", script).group(1))
            assert len(labels) == last + 1 and moved["shown"] == labels[index]
            assert not v.errors[logged:], f"{page}, scrubber {i}: errors {v.errors[logged:]}"
            break
        if i == 0:
            s.screenshot(path=str(out / f"{page}-scrubber-{mode}-after.png"))
