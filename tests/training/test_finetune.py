"""Stage 3: fine-tuning over splits, result files, resume, ablation (gmiqa.training.finetune)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gmiqa.errors import ConfigError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_setup import tiny_dataset, tiny_profile

    return tiny_profile(), tiny_dataset(tmp_path_factory.mktemp("cache"))


def test_split_by_content_for_synthetic_sets_and_by_image_for_authentic():
    from gmiqa.training.finetune import split_by_for

    assert split_by_for("synthetic") == split_by_for("csiq") == "reference"
    assert split_by_for("koniq10k") == split_by_for("livec") == "image"
    with pytest.raises(ConfigError, match="'mnist'"):
        split_by_for("mnist")


def _whole_and_resumed(profile, ds, train, test, tmp_path, stop_after):
    """One split fine-tuned in one go, and the same split interrupted and resumed."""
    from gmiqa.training.finetune import finetune_split
    from gmiqa.training.loop import TrainingInterrupted

    whole = finetune_split(profile, ds, train, test, None, "cpu", seed=1, progress=False)
    ck = tmp_path / "split.safetensors"
    with pytest.raises(TrainingInterrupted):
        finetune_split(profile, ds, train, test, None, "cpu", 1, ck, progress=False,
                       stop_after=stop_after)  # fmt: skip
    resumed = finetune_split(profile, ds, train, test, None, "cpu", 1, ck, progress=False)
    return whole, resumed


def test_finetune_split_resumes_to_the_same_result(tiny, tmp_path):
    """Resumed, and run again from the start: a seeded CPU fine-tuning is bit-reproducible on
    one machine (what a notebook's recorded training loss relies on; across machines it
    varies: tests/metric_spreads.json)."""
    from gmiqa.training.finetune import finetune_split

    profile, ds = tiny
    train, test = np.arange(0, 27), np.arange(27, 36)  # contents 0-2 vs content 3
    whole, resumed = _whole_and_resumed(profile, ds, train, test, tmp_path, stop_after=8)
    again = finetune_split(profile, ds, train, test, None, "cpu", seed=1, progress=False)
    for other in (resumed, again):
        assert whole["predictions"]["pred"] == other["predictions"]["pred"]
        assert whole["metrics"] == other["metrics"]
        assert whole["history"] == other["history"]
    assert len(whole["history"]["loss"]) == profile.finetune.epochs  # one value per epoch
    assert set(whole["per_type_srocc"]) == {"1", "16", "21"}
    assert whole["test_size"] == 9 and set(whole["predictions"]["name"]) == {
        ds.names[i] for i in test
    }


def test_run_finetune_writes_results_with_config_and_provenance(tiny, tmp_path):
    from gmiqa.checkpoint import load_checkpoint
    from gmiqa.training.finetune import run_finetune

    profile, ds = tiny
    out = tmp_path / "res.json"
    res = run_finetune(profile, ds, "synthetic", None, out, splits=2, device="cpu", progress=False,
                       keep_model=tmp_path / "model.safetensors")  # fmt: skip
    stored = json.loads(out.read_text())
    assert stored["config"]["split_by"] == "reference" and stored["config"]["splits"] == 2
    assert stored["config"]["profile"]["name"] == "smoke"
    assert stored["provenance"]["commit"] and stored["provenance"]["device"] == "cpu"
    assert stored["summary"]["srocc"]["splits"] == 2
    for key in ("srocc", "krocc", "plcc", "plcc_logistic", "rmse", "rmse_logistic"):
        assert np.isfinite(stored["summary"][key]["median"])
        assert -1.0 <= stored["summary"]["srocc"]["median"] <= 1.0
    # Splits by content: a test content never appears among the training items.
    from gmiqa.datasets.splits import make_splits

    for split, (train, test) in zip(res["splits"], make_splits(ds.records, 2, 0.8, 0)):
        assert split["train_size"] == len(train) and split["test_size"] == len(test)
        assert not set(ds.ref_ids[train]) & set(ds.ref_ids[test])
        assert split["predictions"]["name"] == [ds.names[i] for i in test]
    assert load_checkpoint(tmp_path / "model.safetensors").kind == "finetune"
    assert not out.with_suffix(".partial.json").exists()


def test_ablation_uses_the_same_splits_for_every_init(tiny, tmp_path):
    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.models import build_model
    from gmiqa.training.finetune import run_ablation

    profile, ds = tiny
    profile = profile.replace(finetune={"epochs": 1})
    init = save_checkpoint(tmp_path / "init.safetensors", kind="graph",
                           model=build_model(profile.model), config={"fingerprint": "abc"})  # fmt: skip
    summary = run_ablation(profile, ds, "synthetic", {"none": None, "init": init}, tmp_path,
                           splits=1, device="cpu", progress=False)  # fmt: skip
    assert set(summary["rows"]) == {"none", "init"}
    a = json.loads((tmp_path / "finetune-synthetic-none.json").read_text())
    b = json.loads((tmp_path / "finetune-synthetic-init.json").read_text())
    assert a["splits"][0]["predictions"]["name"] == b["splits"][0]["predictions"]["name"]
    assert a["splits"][0]["predictions"]["pred"] != b["splits"][0]["predictions"]["pred"]
    assert (
        json.loads((tmp_path / "ablation-synthetic.json").read_text())["rows"]["init"]["splits"]
        == 1
    )


def test_finished_run_is_reused_and_its_model_copied(tiny, tmp_path, monkeypatch):
    import gmiqa.training.finetune as ft
    from gmiqa.checkpoint import load_checkpoint

    profile, ds = tiny
    profile = profile.replace(finetune={"epochs": 1})
    out = tmp_path / "finetune-synthetic-none.json"
    first = ft.run_finetune(profile, ds, "synthetic", None, out, splits=1, device="cpu",
                            progress=False, keep_model=ft.model_path_for(out))  # fmt: skip

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(ft, "finetune_split", no_training)
    copy = tmp_path / "checkpoints" / "finetune.safetensors"
    again = ft.run_finetune(profile, ds, "synthetic", None, out, splits=1, device="cpu",
                            progress=False, keep_model=copy)  # fmt: skip
    assert again["summary"] == first["summary"]
    a, b = load_checkpoint(copy), load_checkpoint(ft.model_path_for(out))
    assert all(torch.equal(a.model[k], b.model[k]) for k in a.model)


def test_lr_schedule_warmup_then_cosine():
    from gmiqa.training.loop import lr_factor

    f = [lr_factor(s, 100, 10, "cosine") for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[9:], f[10:]))  # never rises after warm-up
    assert f[-1] < 0.01
    assert lr_factor(50, 100, 0, "constant") == 1.0
    with pytest.raises(ConfigError, match="linear"):
        lr_factor(0, 10, 0, "linear")


def test_crop_recipe_trains_with_head_rate_and_resumes(tiny, tmp_path):
    """Random crops + flips, warm-up + cosine, a larger rate for the heads: resumable."""
    from gmiqa.training.finetune import parameter_groups

    profile, ds = tiny
    recipe = profile.replace(finetune={"crop": 128, "flip": True, "schedule": "cosine",
                                       "warmup_fraction": 0.2, "head_lr_mult": 3.0,
                                       "weight_decay": 1e-4, "epochs": 2})  # fmt: skip
    train, test = np.arange(0, 27), np.arange(27, 36)
    whole, resumed = _whole_and_resumed(recipe, ds, train, test, tmp_path, stop_after=5)
    assert whole["predictions"]["pred"] == resumed["predictions"]["pred"]
    groups = parameter_groups(whole["model"], 3.0)
    assert [g["lr_mult"] for g in groups] == [1.0, 3.0]
    n_backbone = sum(1 for n, _ in whole["model"].named_parameters() if n.startswith("backbone."))
    assert len(groups[0]["params"]) == n_backbone and len(groups[1]["params"]) > 0


def test_crops_larger_than_an_image_name_it(tiny):
    from gmiqa.training.finetune import finetune_split

    profile, ds = tiny
    recipe = profile.replace(finetune={"crop": 256})
    with pytest.raises(ConfigError, match=r"128x128 pixels is smaller than the 256x256"):
        finetune_split(recipe, ds, np.arange(0, 9), np.arange(27, 30), None, "cpu", progress=False)


def test_results_follow_the_data(tiny, tmp_path):
    """Same --out, changed scores: trained again, never the earlier run's numbers."""
    from dataclasses import replace

    from PIL import Image

    from gmiqa.datasets.base import ImageListDataset, IQARecord
    from gmiqa.training.finetune import run_finetune

    profile, _ = tiny
    rng = np.random.default_rng(0)
    records = []
    for i in range(20):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(path)
        records.append(IQARecord(path.name, i / 20, float(i), i, 0, 0, str(path)))
    first = ImageListDataset(records, "livec", tmp_path)
    out = tmp_path / "results" / "finetune-livec-none.json"
    a = run_finetune(profile, first, "livec", None, out, 1, "cpu", progress=False)
    again = run_finetune(profile, first, "livec", None, out, 1, "cpu", progress=False)
    assert again["fingerprint"] == a["fingerprint"]  # same data: the finished run stands
    changed = ImageListDataset([replace(r, score=1 - r.score) for r in records], "livec", tmp_path)
    b = run_finetune(profile, changed, "livec", None, out, 1, "cpu", progress=False)
    assert b["fingerprint"] != a["fingerprint"]
    assert b["config"]["data_fingerprint"] != a["config"]["data_fingerprint"]
    assert b["splits"][0]["predictions"]["target"] != a["splits"][0]["predictions"]["target"]


def test_rank_loss_costs_only_pairs_ranked_closer_than_their_targets():
    from gmiqa.training.finetune import quality_loss

    target = torch.tensor([0.1, 0.5, 0.9])
    # the right order, each gap at least the targets' gap: the hinge adds nothing
    spread = torch.tensor([0.0, 0.5, 1.0])
    assert torch.isclose(quality_loss(spread, target, "mse+rank"), quality_loss(spread, target))
    # the same MSE with two predictions swapped: the hinge costs the swapped pair
    swapped = torch.tensor([0.1, 0.9, 0.5])
    mse = quality_loss(swapped, target, "mse")
    both = quality_loss(swapped, target, "mse+rank", rank_weight=2.0)
    # pairs with t_i > t_j: (0.5, 0.1) gap 0.4, predicted 0.8: free; (0.9, 0.1) gap 0.8,
    # predicted 0.4: short by 0.4; (0.9, 0.5) gap 0.4, predicted -0.4: short by 0.8
    assert torch.isclose(both - mse, torch.tensor(2.0 * (0.4 + 0.8) / 3))
    with pytest.raises(ConfigError, match="'huber'"):
        quality_loss(swapped, target, "huber")


def test_frozen_backbone_epochs_leave_the_backbone_unchanged(tiny):
    from gmiqa.training.finetune import build_initialised, finetune_split

    profile, ds = tiny
    recipe = profile.replace(finetune={"epochs": 1, "freeze_backbone_epochs": 1})
    start = build_initialised(recipe, None, seed=3)
    res = finetune_split(recipe, ds, np.arange(0, 12), np.arange(27, 36), None, "cpu", seed=3,
                         progress=False)  # fmt: skip
    after = res["model"]
    for (name, a), b in zip(start.state_dict().items(), after.state_dict().values()):
        if name.startswith("backbone."):  # weights and BatchNorm statistics alike
            assert torch.equal(a, b), name
    changed = [n for n, p in after.named_parameters() if not n.startswith("backbone.")
               and not torch.equal(p, start.state_dict()[n])]  # fmt: skip
    assert changed, "the heads did not learn while the backbone was frozen"
    assert all(p.requires_grad for p in after.parameters())  # unfrozen for scoring


def test_grid_windows_cover_the_image_flush_with_its_borders():
    from gmiqa.inference import grid_windows

    assert grid_windows(500, 400, 128, 1) == [(186, 136)]
    corners = grid_windows(500, 400, 128, 3)
    assert corners[0] == (0, 0) and corners[-1] == (500 - 128, 400 - 128)
    assert sorted({t for t, _ in corners}) == [0, 186, 372] and len(corners) == 9
    with pytest.raises(ConfigError):
        grid_windows(500, 400, 128, 0)


def test_crop_grid_score_is_the_mean_of_its_windows_scores(tiny):
    from gmiqa.inference import grid_windows, score_windows
    from gmiqa.training.finetune import build_initialised

    profile, _ = tiny
    model = build_initialised(profile, None, seed=0).eval()
    x = torch.rand(2, 3, 150, 170, generator=torch.Generator().manual_seed(0))
    got = score_windows(model, x, crop=128, grid=2, chunk=3)
    for k in range(2):
        windows = [x[k, :, t : t + 128, c : c + 128] for t, c in grid_windows(150, 170, 128, 2)]
        assert torch.allclose(got[k], model.score(torch.stack(windows)).mean(), atol=1e-5)
    # each image's score depends on that image alone
    assert torch.allclose(score_windows(model, x[1:], crop=128, grid=2), got[1:], atol=1e-5)
    # no grid, or an image smaller than the crop: the whole image
    assert torch.allclose(score_windows(model, x, crop=128, grid=0), model.score(x))
    assert torch.allclose(score_windows(model, x, crop=160, grid=2), model.score(x))


def test_smoke_caps_each_split_and_the_other_profiles_do_not():
    """The smoke profile fine-tunes a seeded subset of a large set (200 images a split) and
    leaves its own synthetic set (180 images) whole; cpu and gpu keep every image, and
    their fingerprints."""
    import numpy as np

    from gmiqa.datasets.splits import cap_splits
    from gmiqa.profiles import get_profile

    splits = [(np.arange(0, 240), np.arange(240, 300)), (np.arange(60, 300), np.arange(0, 60))]
    capped = cap_splits(splits, get_profile("smoke").finetune.max_images, 0.8, seed=0)
    for (train, test), (full_train, full_test) in zip(capped, splits):
        assert (len(train), len(test)) == (160, 40)
        assert set(train) <= set(full_train) and set(test) <= set(full_test)
        assert list(train) == sorted(train)
    again = cap_splits(splits, 200, 0.8, seed=0)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(capped, again))  # seeded
    for name in ("cpu", "gpu", "gpu-quick"):
        profile = get_profile(name)
        assert profile.finetune.max_images is None
        assert "max_images" not in profile.to_dict()["finetune"]
        assert cap_splits(splits, profile.finetune.max_images, 0.8, 0) is splits


def test_the_smoke_cap_leaves_the_smoke_synthetic_set_whole():
    """The notebooks' smoke fine-tuning (synthetic set, split by reference) is not capped."""
    from gmiqa.datasets import SyntheticIQADataset, finetune_splits, make_splits
    from gmiqa.profiles import get_profile

    smoke = get_profile("smoke")
    records = SyntheticIQADataset.from_profile("smoke").records
    full = make_splits(records, 2, smoke.finetune.train_fraction, 0, by="reference")
    capped = finetune_splits(records, 2, smoke.finetune, 0, by="reference")
    assert all(np.array_equal(a, c) and np.array_equal(b, d)
               for (a, b), (c, d) in zip(full, capped))  # fmt: skip


def _stored_as_jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """The oracle: ``img`` written to a JPEG file by Pillow (4:2:0) and read back."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality, subsampling=2)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def test_jpeg_augmentation_restores_about_half_the_photos_and_is_off_by_default(tiny):
    """With jpeg_quality = (LO, HI), a window is the crop of the photo re-stored as JPEG at a
    quality drawn from LO..HI with probability 1/2, drawn from the step's stream; without
    it, the windows (and the stream) are those of the recipe before the option existed, and
    no profile's dictionary (so no fingerprint) names it."""
    from gmiqa.profiles import get_profile
    from gmiqa.training.finetune import DecodedImages

    _, ds = tiny
    images = DecodedImages(ds)

    def windows(jpeg):
        rng = np.random.default_rng(3)
        return [images.window(i % 9, 64, True, rng, jpeg) for i in range(40)]

    def expected(jpeg):
        rng, out, restored = np.random.default_rng(3), [], 0
        for i in range(40):
            img = images.image(i % 9)
            if jpeg is not None and rng.random() < 0.5:
                img = _stored_as_jpeg(img, int(rng.integers(jpeg[0], jpeg[1] + 1)))
                restored += 1
            top = int(rng.integers(0, img.shape[0] - 63))
            left = int(rng.integers(0, img.shape[1] - 63))
            img = img[top : top + 64, left : left + 64]
            if rng.random() < 0.5:
                img = img[:, ::-1]
            out.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1) / 255.0)
        return out, restored

    for jpeg in (None, (40, 60)):
        got, (want, restored) = windows(jpeg), expected(jpeg)
        assert all(torch.equal(a, b) for a, b in zip(got, want))
        assert all(torch.equal(a, b) for a, b in zip(got, windows(jpeg)))  # seeded
        if jpeg is None:
            assert restored == 0
        else:
            assert 8 <= restored <= 32  # p = 1/2 over 40 windows
            assert not all(torch.equal(a, b) for a, b in zip(got, windows(None)))
    for name in ("smoke", "cpu", "gpu", "gpu-quick"):
        profile = get_profile(name)
        assert profile.finetune.jpeg_quality is None
        assert "jpeg_quality" not in profile.to_dict()["finetune"]
    on = get_profile("cpu").replace(finetune={"jpeg_quality": (50, 95)})
    assert on.to_dict()["finetune"]["jpeg_quality"] == (50, 95)
    for bad in ((95, 50), (0, 50), (50, 100), (50,), 50, "ab"):
        with pytest.raises(ConfigError, match="jpeg_quality"):
            get_profile("cpu").replace(finetune={"jpeg_quality": bad})


def test_resize_short_side_keeps_the_aspect_and_averages_when_it_downscales():
    from gmiqa.inference import recipe_resize, resize_short_side

    x = torch.rand(2, 3, 500, 400, generator=torch.Generator().manual_seed(0))
    assert resize_short_side(x, 224).shape == (2, 3, 280, 224)
    assert resize_short_side(x[0], 200).shape == (3, 250, 200)  # one image too
    assert resize_short_side(x, 400) is x and resize_short_side(x, None) is x
    # a 1-px checkerboard halved is flat grey with antialiasing (aliasing would keep 0/1)
    board = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2
    half = resize_short_side(board.float().expand(1, 3, 64, 64), 32)
    assert torch.allclose(half, torch.full_like(half, 0.5), atol=0.02)
    cfg = {"profile": {"finetune": {"resize_short": 224}}}
    assert recipe_resize(cfg) == 224 and recipe_resize({}) is None
    assert recipe_resize({"profile": {"finetune": {}}}) is None


def test_resize_short_is_checked_absent_from_fingerprints_and_used_for_scoring(tiny):
    """finetune.resize_short: refused below the crop; absent from the profile's dictionary
    while None (fingerprints of earlier runs stay valid); a recipe with it scores the
    resampled photo and trains on windows of the resampled photo."""
    from gmiqa.inference import resize_short_side, score_windows
    from gmiqa.profiles import get_profile
    from gmiqa.training.finetune import DecodedImages, build_initialised

    cpu = get_profile("cpu")
    assert "resize_short" not in cpu.to_dict()["finetune"]
    assert cpu.replace(finetune={"resize_short": 224}).to_dict()["finetune"]["resize_short"] == 224
    with pytest.raises(ConfigError, match="resize_short"):
        cpu.replace(finetune={"resize_short": 100})  # below the 128-px crop
    profile, ds = tiny
    model = build_initialised(profile, None, seed=0).eval()
    x = torch.rand(1, 3, 150, 170, generator=torch.Generator().manual_seed(1))
    got = score_windows(model, x, crop=64, grid=2, resize_short=96)
    want = score_windows(model, resize_short_side(x, 96), crop=64, grid=2)
    assert torch.allclose(got, want) and not torch.allclose(got, score_windows(model, x, 64, 2))
    images = DecodedImages(ds, resize_short=48)
    assert min(images.size(0)) == 48
