// Load the Jupyter widgets' manager (RequireJS, then @jupyter-widgets/html-manager) only after
// MathJax has typeset the page. RequireJS defines a global `define`; MathJax 3 components
// loaded after it register themselves as anonymous AMD modules instead of installing, and the
// page's formulas fail ("Cannot set property Package ..."). The script's data attributes name
// the two files: the CDN copies on the site, local copies in the offline edition.
(function () {
  var me = document.currentScript;
  var requireUrl = me.getAttribute("data-require");
  var embedUrl = me.getAttribute("data-embed");
  var cdn = me.getAttribute("data-widgets-cdn");
  function add(src, attrs, then) {
    var s = document.createElement("script");
    s.src = src;
    // CORS mode for a CDN; not from a folder (file://), where Chromium would then refuse
    // the offline edition's own copies and no explorer would render.
    if (location.protocol !== "file:") { s.crossOrigin = "anonymous"; }
    for (var k in attrs) { s.setAttribute(k, attrs[k]); }
    s.onload = then;
    document.head.appendChild(s);
  }
  function loadWidgets() {
    // The widgets typeset their labels through MathJax 2's MathJax.Hub.Queue; MathJax 3 has
    // typesetPromise instead. A two-line bridge lets $\sigma_w^2$ in a slider's label render.
    if (window.MathJax && MathJax.typesetPromise && !MathJax.Hub) {
      MathJax.Hub = {Queue: function (cmd) {
        if (Array.isArray(cmd) && cmd[0] === "Typeset" && cmd[2]) { MathJax.typesetPromise([cmd[2]]); }
      }};
    }
    add(requireUrl, {}, function () {
      // The manager finds its fonts next to its own module: point RequireJS at its folder
      // (otherwise they are looked for next to the page).
      var dist = new URL(embedUrl, document.baseURI).href.replace(/\/[^\/]*$/, "");
      window.require.config({paths: {"@jupyter-widgets/html-manager/dist": dist}});
      add(embedUrl, cdn ? {"data-jupyter-widgets-cdn": cdn} : {}, null);
    });
  }
  function start() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(loadWidgets, loadWidgets);
    } else {
      loadWidgets();
    }
  }
  if (document.readyState === "complete") { start(); } else { window.addEventListener("load", start); }
})();
