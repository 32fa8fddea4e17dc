"""Measuring: one streaming pass over every element of every tensor (statistics, histograms, bit planes, detector
features, the file's SHA-256), returning plain data that the judge reads without touching the file again."""

from inspector.core.measure.features import Features
from inspector.core.measure.layers import LAYER_KINDS, layer_kind
from inspector.core.measure.scan import Measurement, ModelInfo, ScanOptions, TensorScan, measure, scan_tensors
from inspector.core.measure.stats import Histogram, TensorStats

__all__ = [
    "LAYER_KINDS",
    "Features",
    "Histogram",
    "Measurement",
    "ModelInfo",
    "ScanOptions",
    "TensorScan",
    "TensorStats",
    "layer_kind",
    "measure",
    "scan_tensors",
]
