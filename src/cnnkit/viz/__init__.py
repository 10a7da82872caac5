"""Plots (matplotlib, Agg backend): training curves, confusion matrices, comparison curves, optimizer paths,
detection precision-recall curves and labelled boxes.

``FIGURES`` maps the picture kinds a task asks for at the end of a run (:class:`cnnkit.training.tasks.Figure`) to
the function that draws them: ``FIGURES[kind](path, **data)``.

Seeing inside a model (forward hooks and tensor backward hooks): :func:`plot_filters` (the first layer's
filters), :func:`feature_maps`, :func:`grad_cam`, :func:`saliency`, :func:`empirical_receptive_field`; and the
per-layer training diagnostics' picture :func:`plot_layer_stats`.
"""

from ._hooks import capture, feature_map_layers, find_layer, layer_names
from .compare import (
    plot_bars,
    plot_codes_2d,
    plot_histogram_grid,
    plot_image_grid,
    plot_image_rows,
    plot_layer_profiles,
    plot_scatter,
    plot_xy,
)
from .detection import draw_boxes, plot_pr_curves
from .diagnostics import plot_layer_stats
from .features import feature_maps, plot_feature_maps
from .filters import filter_grid, first_conv_weight, plot_filters
from .gradcam import GradCAM, Saliency, grad_cam, overlay_heatmap, plot_gradcam, plot_saliency, saliency
from .plots import plot_confusion, plot_curves, plot_panels, plot_paths_2d, plot_series
from .receptive_field import ReceptiveField, empirical_receptive_field, plot_receptive_field
from .segmentation import class_colours, colour_mask, overlay_mask, plot_segmentation, save_mask_png, save_rgb_png

FIGURES = {
    "confusion": lambda path, matrix, classes=None: plot_confusion(matrix, path, classes=classes),
    "layer_stats": lambda path, **data: plot_layer_stats(path=path, **data),
    "segmentation": lambda path, **data: plot_segmentation(path, **data),
    "image_grid": lambda path, rows, title="": plot_image_grid(rows, path, title=title),
    "pr_curves": lambda path, **data: plot_pr_curves(path, **data),
}
