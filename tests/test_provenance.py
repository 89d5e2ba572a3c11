"""Provenance blocks (gmiqa.provenance): what every stored result says produced it."""

from __future__ import annotations

import importlib.metadata

import torch

from gmiqa.provenance import PACKAGES, REQUIRED_KEYS, check_provenance, package_versions, provenance


def test_a_block_records_the_kernel_level_and_the_package_versions():
    block = provenance(device="cpu", method="X")
    assert all(block[k] for k in REQUIRED_KEYS) and block["method"] == "X"
    assert block["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert block["packages"]["torch"] == importlib.metadata.version("torch")
    assert set(block["packages"]) <= set(PACKAGES)
    for name in ("torch", "torchvision", "torch-geometric", "numpy", "scipy", "scikit-image",
                 "pillow", "safetensors"):  # fmt: skip
        assert block["packages"][name] == importlib.metadata.version(name), name
    check_provenance(block, "x.json")


def test_packages_not_installed_are_left_out():
    assert package_versions(("numpy", "no-such-distribution-gmiqa")) == {
        "numpy": importlib.metadata.version("numpy")
    }
