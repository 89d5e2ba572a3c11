"""The GMIQA network: SCNet-50 (or the BL ResNet-50), SPP, the distortion graph, the heads.

Taught in ``notebooks/02_self_calibrated_conv.ipynb`` (SC convolution, SCNet),
``notebooks/03_spatial_pyramid_pooling.ipynb`` (SPP) and
``notebooks/04_distortion_graph.ipynb`` (graph module, discriminators, assembled model).
"""

from gmiqa.models.complexity import complexity_report, count_parameters
from gmiqa.models.discriminators import GaussianHead, LevelDiscriminator, TypeDiscriminator
from gmiqa.models.gmiqa import GMIQA, PretrainOutput, build_model
from gmiqa.models.graph import (
    EdgeBuilder,
    GCNLayer,
    NodeBuilder,
    NodeGCN,
    clean_adjacency,
    cosine_adjacency,
    dense_to_edge_list,
    edge_init,
    normalized_adjacency,
)
from gmiqa.models.resnet import ResNetBackbone, resnet50_backbone
from gmiqa.models.scconv import SCBottleneck, SCConv
from gmiqa.models.scnet import SCNet, load_local_weights, pad_to_min_size, scnet50, scnet_small
from gmiqa.models.spp import SpatialPyramidPooling, SPPProjection

__all__ = [
    "GMIQA",
    "EdgeBuilder",
    "GCNLayer",
    "GaussianHead",
    "LevelDiscriminator",
    "NodeBuilder",
    "NodeGCN",
    "PretrainOutput",
    "ResNetBackbone",
    "SCBottleneck",
    "SCConv",
    "SCNet",
    "SPPProjection",
    "SpatialPyramidPooling",
    "TypeDiscriminator",
    "build_model",
    "clean_adjacency",
    "complexity_report",
    "cosine_adjacency",
    "count_parameters",
    "dense_to_edge_list",
    "edge_init",
    "load_local_weights",
    "normalized_adjacency",
    "pad_to_min_size",
    "resnet50_backbone",
    "scnet50",
    "scnet_small",
]
