"""Device helpers: where channels-last and torch.compile apply, and that they change no result."""

from __future__ import annotations

import torch

from gmiqa.device import compiles, prepare_model, to_device_images, training_channels_last
from gmiqa.models import build_model
from gmiqa.profiles import get_profile

CPU = torch.device("cpu")


def test_channels_last_for_training_on_cpu_and_cuda_only():
    assert training_channels_last(CPU, True)
    assert training_channels_last(torch.device("cuda"), True)
    assert not training_channels_last(CPU, False)
    assert not training_channels_last(torch.device("meta"), True)


def test_compile_only_on_cuda():
    assert not compiles(CPU, True)
    assert compiles(torch.device("cuda"), True)
    assert not compiles(torch.device("cuda"), False)


def test_to_device_images_layouts():
    x = torch.rand(2, 3, 16, 20)
    assert to_device_images(x, CPU).is_contiguous()  # default: channels-last on CUDA only
    assert to_device_images(x, CPU, True).is_contiguous(memory_format=torch.channels_last)
    assert to_device_images(x, CPU, False).is_contiguous()


def test_channels_last_training_step_matches_the_contiguous_one():
    """Forward outputs to 1e-4; the whole gradient to 2% of its norm.

    The gradients are compared as one vector: max pooling (the stem, SPP) routes a
    gradient to its window's argmax, and float rounding can flip an argmax, which moves
    a few entries by O(1). Contiguous float32 differs from float64 in the same way (up to
    0.5% of a parameter's gradient norm on some inputs, measured).
    """
    settings = get_profile("cpu").model
    x = torch.rand(8, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    results = []
    for cl in (False, True):
        torch.manual_seed(0)
        model = prepare_model(build_model(settings), CPU, cl).train()
        out = model.pretrain_forward(to_device_images(x, CPU, cl))
        loss = out.graph_code.square().sum() + out.level_mu.sum()
        loss.backward()
        grads = torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])
        results.append((out.graph_code.detach(), out.level_mu.detach(), grads))
        if cl:
            assert model.backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    (code0, mu0, g0), (code1, mu1, g1) = results
    torch.testing.assert_close(code1, code0, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mu1, mu0, rtol=1e-4, atol=1e-4)
    assert float((g1 - g0).norm() / g0.norm()) < 2e-2


def test_prepare_model_never_compiles_unless_asked():
    model = prepare_model(build_model(get_profile("smoke").model), CPU, False, False)
    assert getattr(model.backbone, "_compiled_call_impl", None) is None
