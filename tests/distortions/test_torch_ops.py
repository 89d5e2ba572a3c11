"""The torch batch path agrees with the numpy reference path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gmiqa.datasets import fit_to_size, load_pristine
from gmiqa.distortions import DISTORTIONS, distort
from gmiqa.distortions.torch_ops import TORCH_TYPES, distort_batch, lab2rgb, rgb2lab
from gmiqa.errors import ConfigError

DETERMINISTIC = sorted(t for t in TORCH_TYPES if not DISTORTIONS[t].random)
RANDOM = sorted(t for t in TORCH_TYPES if DISTORTIONS[t].random)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return fit_to_size(load_pristine(max_images=1)[0].image, (64, 96)).astype(np.float64) / 255.0


def _batch(img: np.ndarray, n: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].repeat(n, 1, 1, 1).to(dtype)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.permute(1, 2, 0).double().numpy()


def test_torch_types_are_the_documented_set():
    assert TORCH_TYPES == {1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 14, 16, 17, 18, 19, 21, 23, 24, 25}
    assert all(DISTORTIONS[t].torch for t in TORCH_TYPES)
    assert not DISTORTIONS[10].torch


def test_lab_matches_skimage(image):
    from skimage.color import lab2rgb as sk_lab2rgb
    from skimage.color import rgb2lab as sk_rgb2lab

    lab = rgb2lab(_batch(image))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(lab, sk_rgb2lab(image), atol=1e-9)
    lab2 = sk_rgb2lab(image)
    lab2[..., 1:] *= 3  # partly out of gamut
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_lab2rgb(lab2)
    got = lab2rgb(torch.from_numpy(lab2).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-9)


@pytest.mark.parametrize("t", DETERMINISTIC)
def test_deterministic_types_match_numpy(t, image):
    x = _batch(image, 2)
    for level in range(1, 6):
        ref = distort(image, t, level)
        out = distort_batch(x, t, level)
        assert out.shape == x.shape and out.dtype == x.dtype
        np.testing.assert_allclose(_np(out[1]), ref, atol=1e-6, err_msg=f"type {t} level {level}")
        out32 = distort_batch(x.float(), t, level)
        assert out32.dtype == torch.float32
        np.testing.assert_allclose(_np(out32[0]), ref, atol=2e-3)


@pytest.mark.parametrize("t", RANDOM)
def test_random_types_match_numpy_statistics(t, image):
    n = 12
    x = _batch(image, n)
    for level in (2, 5):
        out = distort_batch(x, t, level, generator=torch.Generator().manual_seed(level))
        mse_torch = np.mean([np.mean((_np(o) - image) ** 2) for o in out])
        mse_np = np.mean(
            [np.mean((distort(image, t, level, seed=s) - image) ** 2) for s in range(n)]
        )
        assert mse_torch == pytest.approx(mse_np, rel=0.25), (t, level, mse_torch, mse_np)
        # different images of the batch draw differently
        assert not torch.equal(out[0], out[1])


@pytest.mark.parametrize("t", RANDOM)
def test_generator_makes_random_types_reproducible(t, image):
    x = _batch(image, 2, torch.float32)
    a = distort_batch(x, t, 4, generator=torch.Generator().manual_seed(5))
    b = distort_batch(x, t, 4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_color_shift_edge_mask_matches_numpy(image):
    from gmiqa.distortions.color import edge_mask as np_edge_mask
    from gmiqa.distortions.torch_ops import edge_mask

    got = edge_mask(_batch(image))[0, 0].numpy()
    np.testing.assert_allclose(got, np_edge_mask(image), atol=1e-9)


def test_separable_filter_paths_agree(image):
    from gmiqa.distortions._matlab import gauss_kernel_1d
    from gmiqa.distortions.torch_ops import _separable

    x = _batch(image, 2)
    k = gauss_kernel_1d(5.0)  # 21 taps: wider than a few rows
    conv = _separable(x, k, use_conv=True)  # the GPU path, run on the CPU
    torch.testing.assert_close(conv, _separable(x, k, use_conv=False), atol=1e-12, rtol=0)


def test_torch_keys_interpolation_matches_numpy():
    from gmiqa.distortions._matlab import interp2_bicubic
    from gmiqa.distortions.torch_ops import _interp2_bicubic

    rng = np.random.default_rng(0)
    img = rng.random((9, 11, 3))
    rows = rng.uniform(-0.5, 9, (9, 11))
    cols = rng.uniform(-0.5, 11, (9, 11))
    ref = interp2_bicubic(img, rows, cols)
    got = (
        _interp2_bicubic(
            torch.from_numpy(img).permute(2, 0, 1)[None],
            torch.from_numpy(rows)[None],
            torch.from_numpy(cols)[None],
        )[0]
        .permute(1, 2, 0)
        .numpy()
    )
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[np.isfinite(ref)], ref[np.isfinite(ref)], atol=1e-12)


def test_errors_name_the_value(image):
    x = _batch(image)
    with pytest.raises(ConfigError, match="jpeg"):
        distort_batch(x, 10, 1)
    with pytest.raises(ConfigError, match="'blurry'"):
        distort_batch(x, "blurry", 1)
    with pytest.raises(ConfigError, match="level 0"):
        distort_batch(x, 1, 0)
    with pytest.raises(ConfigError, match=r"\(1, 4, 64, 96\)"):
        distort_batch(torch.zeros(1, 4, 64, 96), 1, 1)
    with pytest.raises(ConfigError, match="uint8"):
        distort_batch(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 1, 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(image):
    x = _batch(image, 2, torch.float32)
    for t in DETERMINISTIC:
        cpu = distort_batch(x, t, 4)
        gpu = distort_batch(x.cuda(), t, 4).cpu()
        torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=0)
    g = torch.Generator(device="cuda").manual_seed(0)
    out = distort_batch(x.cuda(), 11, 3, generator=g)
    assert out.device.type == "cuda"
