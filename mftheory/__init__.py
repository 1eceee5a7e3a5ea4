"""mftheory: the numerical companion of the executable textbook on training deep networks."""
__version__ = "0.1.0"
