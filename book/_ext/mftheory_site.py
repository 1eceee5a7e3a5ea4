"""Small fixes to the rendered site (a Sphinx extension loaded through _config.yml).

- Each script is included once per page. sphinx-thebe registers its inline configuration
  (``const THEBE_JS_URL = ...``) twice under Jupyter Book 1.0 (once with the file name None, once
  with ""), and so does sphinx-togglebutton; the second THEBE_JS_URL throws
  "Identifier 'THEBE_JS_URL' has already been declared" in every reader's console.
- A first visit has no stored light/dark choice: the theme then reads an empty mode and logs
  "Got invalid theme mode" in every new reader's console; we start such a visit at "auto".
"""

_DEFAULT_MODE = ('if (!document.documentElement.dataset.mode) '
                 '{ document.documentElement.dataset.mode = "auto"; }')


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        attrs = getattr(js, "attributes", {}) or {}
        name = (js.filename or "") if hasattr(js, "filename") else str(js)
        key = (str(name), tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept          # in place: later handlers (MathJax, myst-nb) append to this list


def setup(app):
    app.add_js_file(None, body=_DEFAULT_MODE, priority=100)
    # Early (priority 100): the event stops at the first handler that returns a template name.
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
