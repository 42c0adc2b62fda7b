"""The report's figures, each a pure function of the analysed sweep returning a matplotlib Figure.

This package owns the drawing: one module per figure family (`map_time`: MAP vs training time
and the Pareto front; `map_cost`: MAP vs training time beside MAP vs inference latency; `comparisons`: MAP per frontend and the factor effects; `noise`: seed
noise; `panels`: the spectrogram gallery and the training curves; `learned`: learned frontend
parameters), with the shared palette, markers and canvas in the private `_style`. It never
computes a statistic (that is `reports.analysis`) and never writes a file: the caller saves
the figure. Figures are built with the object API (`matplotlib.figure.Figure`, Agg canvas),
never pyplot: no global state, no display needed, safe to call from any process. A function
returns None when its figure does not apply to this sweep (no compression swept, one seed, no
previews), and the report says so in words instead.

    fig = map_vs_time(configs, swept_keys, eval_sets)
    fig.savefig("map_vs_time.png", dpi=DPI)
"""

from reports.figures._style import DPI, new_figure
from reports.figures.comparisons import factor_effects, frontend_comparison
from reports.figures.learned import learned_parameters
from reports.figures.map_cost import map_vs_cost
from reports.figures.map_time import map_vs_time
from reports.figures.noise import seed_noise
from reports.figures.panels import Curve, gallery, training_curves

__all__ = [
    "DPI",
    "Curve",
    "factor_effects",
    "frontend_comparison",
    "gallery",
    "learned_parameters",
    "map_vs_cost",
    "map_vs_time",
    "new_figure",
    "seed_noise",
    "training_curves",
]
