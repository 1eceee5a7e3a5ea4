"""Interactive explorers (ipywidgets), one module per chapter.

Every explorer is a thin layer over a pure, unit-tested function of the chapter's module
that returns the numbers to draw; the explorer only wires sliders to it and redraws. Each
explorer also has a static, asserted figure in its chapter for readers of the website.
"""
