"""Model analysis: ``summary`` (per-layer shapes, parameters, MACs, receptive field, memory) and its CLI."""

from .cli import summary_main
from .summary import FLOPS_PER_MAC, LayerRow, ModelSummary, SummaryTotals, summary

__all__ = ["summary", "summary_main", "ModelSummary", "LayerRow", "SummaryTotals", "FLOPS_PER_MAC"]
