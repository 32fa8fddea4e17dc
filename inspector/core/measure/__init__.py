"""Measuring: one streaming pass over every element of every tensor (statistics, histograms, bit planes, detector
features, the file's SHA-256), returning plain data that the judge reads without touching the file again."""

from inspector.core.measure.aot import prepare as prepare_kernels
from inspector.core.measure.features import Features
from inspector.core.measure.layer_histogram import LayerHistogram, layer_histogram, shared_range
from inspector.core.measure.layers import LAYER_KINDS, layer_kind
from inspector.core.measure.scan import Measurement, ModelInfo, ScanOptions, TensorScan, measure, scan_tensors
from inspector.core.measure.stats import Histogram, TensorStats
from inspector.core.measure.weights_image import (
    SOURCES,
    is_theta,
    minmax_tiles,
    source_length,
    source_values,
    theta_tensors,
    tile_grid,
)

__all__ = [
    "LAYER_KINDS",
    "SOURCES",
    "Features",
    "Histogram",
    "LayerHistogram",
    "Measurement",
    "ModelInfo",
    "ScanOptions",
    "TensorScan",
    "TensorStats",
    "is_theta",
    "layer_histogram",
    "layer_kind",
    "measure",
    "minmax_tiles",
    "prepare_kernels",
    "scan_tensors",
    "shared_range",
    "source_length",
    "source_values",
    "theta_tensors",
    "tile_grid",
]
