"""Plots (matplotlib, Agg backend): training curves, confusion matrices, comparison curves, optimizer paths."""

from .plots import plot_confusion, plot_curves, plot_panels, plot_paths_2d, plot_series
