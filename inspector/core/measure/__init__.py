"""Streaming analysis of tensors: statistics, histograms, bit planes, order structure."""

from inspector.core.measure.layers import LAYER_KINDS, layer_kind
from inspector.core.measure.stats import Histogram, TensorStats

__all__ = ["LAYER_KINDS", "Histogram", "TensorStats", "layer_kind"]
