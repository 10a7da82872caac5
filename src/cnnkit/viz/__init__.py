"""Plots (matplotlib, Agg backend): training curves, confusion matrices, comparison curves, optimizer paths.

``FIGURES`` maps the picture kinds a task asks for at the end of a run (:class:`cnnkit.training.tasks.Figure`) to
the function that draws them: ``FIGURES[kind](path, **data)``.
"""

from .plots import plot_confusion, plot_curves, plot_panels, plot_paths_2d, plot_series

FIGURES = {
    "confusion": lambda path, matrix, classes=None: plot_confusion(matrix, path, classes=classes),
}
