"""Names a frontend config may use, kept free of torch so a sweep file validates without it."""

from __future__ import annotations

# Analysis windows (torch.<name>_window, periodic).
WINDOW_NAMES = ("hann", "hamming", "blackman", "bartlett")

# PCEN smoother initialisations (frontends/functional.py: pcen_smoother).
PCEN_INITS = ("loop", "first_frame", "librosa")

# The compressions and scales frontends/ itself registers, and the module that registers each
# kind: the config accepts these names before that module (and torch) is imported.
BUILTIN_COMPRESSIONS = ("db", "exp", "none", "pcen")
BUILTIN_SCALES = ("erb", "linear", "log", "mel")
