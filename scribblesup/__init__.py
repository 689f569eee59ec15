"""scribblesup: scribble-supervised semantic segmentation (ScribbleSup, CVPR 2016) and its building blocks."""

from .energy import Energy, network_unary, pairwise_weights, scribble_unary
from .graphcut import ExpansionResult, alpha_expansion, grid_mrf
from .labelling import label_dataset
from .propagation import Propagation, PropagationParams, propagate_scribbles
from .superpixels import RegionGraph, build_region_graph, compute_superpixels

__version__ = "0.1.0"

__all__ = [
    "Energy", "ExpansionResult", "Propagation", "PropagationParams", "RegionGraph",
    "alpha_expansion", "build_region_graph", "compute_superpixels", "grid_mrf", "network_unary",
    "label_dataset", "pairwise_weights", "propagate_scribbles", "scribble_unary",
]
