"""Streaming analysis of tensors: statistics, histograms, bit planes, order structure."""

from .layers import LAYER_KINDS, layer_kind
from .stats import Histogram, TensorStats

__all__ = ["LAYER_KINDS", "Histogram", "TensorStats", "layer_kind"]
