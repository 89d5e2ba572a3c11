"""Scoring images with a trained checkpoint: ``gmiqa.load_model(path).score(...)``.

Taught in ``notebooks/07_finetuning.ipynb``. The one place that loads a checkpoint for
inference, folds BatchNorm, decodes and batches image files and scores them as the
fine-tuning recipe scores; the ``gmiqa score`` command, the notebooks, the benchmarks and
the pre-training probe all use it::

    m = gmiqa.load_model("runs/cpu/results/model.safetensors")
    m.score("photo.jpg")              # one float
    m.score(["a.jpg", "photos/"])     # {path: score} for files, folders and glob patterns
    m.score(x)                        # (N, 3, H, W) tensor in [0, 1] -> (N,) scores

Scores are on the scale of the training targets (MOS normalised to [0, 1], higher =
better; :attr:`QualityModel.score_range`), not squashed, so a prediction may fall a
little outside that range.
"""

from __future__ import annotations

import copy
import dataclasses
import glob
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from gmiqa.checkpoint import Checkpoint, load_checkpoint, load_weights, sidecar_path
from gmiqa.device import resolve_device, to_device_images
from gmiqa.errors import CheckpointError, ConfigError, GMIQAError, ImageReadError
from gmiqa.images import IMAGE_SUFFIXES, load_image, scan_images
from gmiqa.models import build_model
from gmiqa.profiles import ModelSettings
from gmiqa.stages import STAGE_DESCRIPTIONS

SCORE_RANGE = (0.0, 1.0)  # the fine-tuning targets: MOS normalised to [0, 1]
_GLOB_CHARS = frozenset("*?[")
# The largest integer a sidecar's model setting may hold: every profile's widths and
# depths are far below it, and a bigger one would allocate gigabytes before the weights
# could be found not to fit.
MAX_SETTING = 4096


def model_from_checkpoint(path: str | os.PathLike, device="cpu") -> tuple[nn.Module, Checkpoint]:
    """Rebuild the model a checkpoint was trained with (settings from its sidecar) and load it.

    Taught in ``notebooks/07_finetuning.ipynb``. Returns ``(model in evaluation mode on
    device, Checkpoint)``; any stage's checkpoint loads (the probe loads pre-training
    ones on purpose). A sidecar without model settings, or with settings that cannot
    build a model, is a :class:`gmiqa.errors.CheckpointError` naming the file.
    """
    ck = load_checkpoint(path)
    return model_of_checkpoint(ck, device), ck


def model_of_checkpoint(ck: Checkpoint, device="cpu") -> nn.Module:
    """The model of a loaded :class:`gmiqa.checkpoint.Checkpoint`, in evaluation mode on
    ``device`` (:func:`model_from_checkpoint`). Taught in ``notebooks/07_finetuning.ipynb``.
    """
    side = sidecar_path(ck.path)
    profile = ck.config.get("profile")
    model_cfg = profile.get("model") if isinstance(profile, dict) else None
    if not isinstance(model_cfg, dict):
        raise CheckpointError(f"{side}: does not record the model settings (config.profile.model)")
    defaults = ModelSettings()
    cfg = {}
    for f in dataclasses.fields(ModelSettings):
        if f.name in model_cfg:
            cfg[f.name] = _setting(model_cfg[f.name], getattr(defaults, f.name), f.name, side)
    # The checkpoint holds every weight: never look for ImageNet weights when rebuilding.
    cfg["pretrained"] = False
    try:
        model = build_model(dataclasses.replace(defaults, **cfg))
    except (GMIQAError, TypeError, ValueError, KeyError, IndexError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        raise CheckpointError(
            f"{side}: its model settings cannot build a model ({message})"
        ) from None
    try:
        load_weights(model, ck, strict=True)
    except CheckpointError as exc:  # the settings may be what is wrong: name them too
        raise CheckpointError(f"{exc} (model settings from {side.name})") from None
    return model.to(device).eval()


def _setting(value, default, name: str, side: Path):
    """A sidecar's model setting ``value`` checked against the type of its ``default``
    (int: 1..MAX_SETTING; tuple: of such ints; str); CheckpointError naming ``side``."""

    def whole(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SETTING

    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = whole(value)
    elif isinstance(default, tuple):
        ok = isinstance(value, list | tuple) and 0 < len(value) <= 16 and all(map(whole, value))
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, str) and len(value) <= 64
    if not ok:
        kind = {bool: "true or false", int: f"an integer in 1..{MAX_SETTING}",
                tuple: f"a list of integers in 1..{MAX_SETTING}"}.get(type(default), "a name")  # fmt: skip
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        raise CheckpointError(f"{side}: model setting {name!r} is {text}, not {kind}")
    return value


def pretraining_stage(ck: Checkpoint) -> str | None:
    """``"meta"`` or ``"graph"`` when ``ck`` comes from a pre-training stage, else None.

    Such a model is not trained on human ratings: its scores are not quality predictions.
    Taught in ``notebooks/07_finetuning.ipynb``.
    """
    stage = str(ck.kind or ck.config.get("stage") or "").lower()
    return stage if stage in STAGE_DESCRIPTIONS else None


def pretraining_warning(ck: Checkpoint) -> str | None:
    """The ``gmiqa: warning: ...`` line for a pre-training checkpoint (None when fine-tuned).

    Taught in ``notebooks/07_finetuning.ipynb``; the command line prints it on stderr.
    """
    stage = pretraining_stage(ck)
    if stage is None:
        return None
    return (
        f"gmiqa: warning: {ck.path} is {STAGE_DESCRIPTIONS[stage]}; its scores are not "
        "quality predictions. Fine-tune it first (gmiqa finetune --init CKPT) and use the "
        "fine-tuned model."
    )


def grid_windows(height: int, width: int, crop: int, grid: int) -> list[tuple[int, int]]:
    """Top-left corners of a ``grid`` x ``grid`` set of ``crop``-pixel windows spread evenly
    over a ``height`` x ``width`` image, first and last flush with the borders (one window:
    the centre). Taught in ``notebooks/07_finetuning.ipynb``."""
    if grid < 1 or crop < 1:
        raise ConfigError(f"a crop grid needs grid >= 1 and crop >= 1, got {grid}, {crop}")
    if grid == 1:
        return [((height - crop) // 2, (width - crop) // 2)]
    tops = np.linspace(0, height - crop, grid).round().astype(int).tolist()
    lefts = np.linspace(0, width - crop, grid).round().astype(int).tolist()
    return [(t, left) for t in tops for left in lefts]


def _recipe_int(ft: dict, key: str, source, limit: int = MAX_SETTING) -> int | None:
    """``ft[key]`` as an int in 1..limit, None when absent or 0; CheckpointError naming
    ``source`` (the sidecar) for anything else: a sidecar is data from outside."""
    value = ft.get(key)
    if value is None or (value == 0 and not isinstance(value, bool)):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        text = repr(value)
        text = text if len(text) <= 40 else text[:37] + "..."
        raise CheckpointError(
            f"{source or 'checkpoint sidecar'}: fine-tuning setting {key!r} is {text}, not "
            f"an integer in 1..{limit}"
        )
    return value


def _finetune_settings(config: dict) -> dict:
    profile = config.get("profile") if isinstance(config, dict) else None
    ft = profile.get("finetune") if isinstance(profile, dict) else None
    return ft if isinstance(ft, dict) else {}


def recipe_resize(config: dict, source=None) -> int | None:
    """The shorter side (px) to which a checkpoint's fine-tuning recipe resamples a photo
    before scoring it (``finetune.resize_short``), or ``None`` (native size), read from
    the sidecar ``config``; a value that is not a whole number of pixels raises
    CheckpointError naming ``source``. Taught in ``07_finetuning``."""
    return _recipe_int(_finetune_settings(config), "resize_short", source)


def resize_short_side(x: torch.Tensor, side: int | None) -> torch.Tensor:
    """``x`` (N, 3, H, W) or (3, H, W) resampled so that its shorter side is ``side`` px.

    The aspect ratio is kept (the longer side rounded); bilinear with antialiasing, so a
    downscale averages rather than aliases. ``side`` None, or already the shorter side:
    ``x`` itself. Training windows and scored photos go through this one function, so a
    model sees the same view in both (``finetune.resize_short``). Taught in
    ``07_finetuning``.
    """
    if not side:
        return x
    h, w = x.shape[-2:]
    if min(h, w) == side:
        return x
    size = (side, max(1, round(w * side / h))) if h <= w else (max(1, round(h * side / w)), side)
    batch = x if x.dim() == 4 else x.unsqueeze(0)
    out = torch.nn.functional.interpolate(
        batch.float(), size=size, mode="bilinear", antialias=True, align_corners=False
    ).clamp_(0.0, 1.0)
    return out if x.dim() == 4 else out[0]


def recipe_scoring(config: dict, source=None) -> tuple[int | None, int]:
    """``(crop, eval_crops)`` of the fine-tuning recipe a checkpoint's sidecar ``config``
    records: how its model scores an image (:func:`score_windows`). ``(None, 0)`` (whole
    images) when the sidecar records no fine-tuning settings. A value that is not an
    integer (eval_crops: 1..64, a grid of at most 4096 windows) raises CheckpointError
    naming ``source``. Taught in ``07_finetuning``.
    """
    ft = _finetune_settings(config)
    grid = _recipe_int(ft, "eval_crops", source, limit=64)
    crop = _recipe_int(ft, "crop", source)
    if not grid or not crop:
        return None, 0
    return crop, grid


@torch.no_grad()
def score_windows(model, x: torch.Tensor, crop: int | None = None, grid: int = 0,
                  chunk: int = 64, resize_short: int | None = None) -> torch.Tensor:  # fmt: skip
    """Quality scores (N,) of a batch ``x`` (N, 3, H, W), as the fine-tuning recipe scores.

    ``grid`` 0 (or no ``crop``): ``model.score`` of the whole images at native size (the
    paper). ``grid`` G: the mean score of the G x G windows of :func:`grid_windows`, each
    ``crop`` x ``crop``, scored ``chunk`` windows at a time; an image smaller than ``crop``
    is scored whole. ``resize_short``: the images are first resampled so that their
    shorter side is that many px (:func:`resize_short_side`). Each image's score depends
    on that image alone. Taught in ``notebooks/07_finetuning.ipynb``.
    """
    x = resize_short_side(x, resize_short)
    n, _, h, w = x.shape
    if not grid or not crop or min(h, w) < crop:
        return model.score(x)
    corners = grid_windows(h, w, int(crop), int(grid))
    fmt = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else None
    windows = torch.stack([x[:, :, t : t + crop, c : c + crop] for t, c in corners], 1)
    windows = windows.reshape(n * len(corners), x.shape[1], crop, crop)
    if fmt is not None:
        windows = windows.contiguous(memory_format=fmt)
    scores = torch.cat([model.score(windows[i : i + chunk]) for i in range(0, len(windows), chunk)])
    return scores.float().view(n, len(corners)).mean(dim=1)


def fold_batch_norm(model):
    """A copy of ``model`` for inference with each BatchNorm folded into its convolution.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score``). In evaluation mode a
    BatchNorm after a convolution is an affine map per channel, so it can be merged into
    the convolution's weight and bias (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`):
    one pass over each feature map instead of two (about 12% of a CPU forward of
    SCNet-50). Pairs folded: consecutive ``Conv2d``, ``BatchNorm2d`` in an
    ``nn.Sequential``, and ``conv<X>`` / ``bn<X>`` attributes of one module applied as
    ``bn<X>(conv<X>(x))`` (SCNet's and torchvision's bottlenecks and stems; tests check
    every backbone). The copy is in evaluation mode; scores equal the unfolded model's to
    float rounding (tests: 1e-5).
    """
    model = copy.deepcopy(model).eval()

    def foldable(conv, bn) -> bool:
        return (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
                and bn.track_running_stats and conv.out_channels == bn.num_features)  # fmt: skip

    for module in list(model.modules()):
        if isinstance(module, nn.Sequential):
            for i in range(len(module) - 1):
                if foldable(module[i], module[i + 1]):
                    module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                    module[i + 1] = nn.Identity()
        for name, child in list(module.named_children()):
            if name.startswith("conv"):
                bn_name = "bn" + name[len("conv") :]
                bn = getattr(module, bn_name, None)
                if foldable(child, bn):
                    setattr(module, name, fuse_conv_bn_eval(child, bn))
                    setattr(module, bn_name, nn.Identity())
    return model


def expand_image_inputs(items) -> list[tuple[str, str | None]]:
    """Files, folders and glob patterns -> ``[(path, error or None), ...]`` in the given order.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score``). A folder gives its image
    files (``gmiqa.images.IMAGE_SUFFIXES``, searched recursively, sorted); a pattern with
    ``*``, ``?`` or ``[`` that names no existing file is expanded with :func:`glob.glob`
    (``**`` recursive, sorted; matched files with an image extension, matched folders as
    folders). Anything else is taken as a file and read later, so a missing or unreadable
    file becomes that file's own error. A folder without images or a pattern without
    matches is an error entry naming it, and so is each link in a folder that dangles,
    loops or leads out of it (:func:`gmiqa.images.scan_images`; the folder's other
    files are scored).
    """
    out: list[tuple[str, str | None]] = []

    def add_folder(folder: Path) -> None:
        try:
            files, problems = scan_images(folder)
        except GMIQAError as exc:
            out.append((str(folder), str(exc)))
            return
        found = [(p, None) for p in files] + [(p, f"{msg}; not scored") for p, msg in problems]
        out.extend((str(p), error) for p, error in sorted(found, key=lambda e: e[0]))

    for item in items:
        text = str(item)
        path = Path(text)
        if path.is_dir():
            add_folder(path)
        elif not path.exists() and any(c in _GLOB_CHARS for c in text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                out.append((text, f"{text}: no file matches this pattern"))
            for m in matches:
                mp = Path(m)
                if mp.is_dir():
                    add_folder(mp)
                elif mp.suffix.lower() in IMAGE_SUFFIXES:
                    out.append((m, None))
        else:
            out.append((text, None))
    return out


def _decode(path: str):
    try:
        return load_image(path), None
    except GMIQAError as exc:
        return None, str(exc)


def stream_scores(model, paths, device, batch_size: int = 16, workers: int = 4,
                  fold: bool = True, crop: int | None = None, grid: int = 0,
                  resize_short: int | None = None,
                  ) -> Iterator[tuple[str, float | None, str | None]]:  # fmt: skip
    """Score image files with ``model.score``, same-size images batched; yields in order.

    Taught in ``notebooks/07_finetuning.ipynb`` (``gmiqa score``). Yields
    ``(path, score, None)`` or ``(path, None, error message naming the file)`` for each
    path, in the order given. Files are decoded by ``workers`` threads
    (:func:`gmiqa.images.load_image`, a bounded window ahead of the model); decoded images
    wait in one bucket per size until ``batch_size`` of them are there (or too many wait
    in all: the oldest bucket goes first), and a bucket is scored with one
    ``model.score`` call at the native size. ``GMIQA.score`` in evaluation mode scores
    every image on its own, so the scores equal those of one image at a time (to float
    rounding of the batched kernels). ``fold``: score with :func:`fold_batch_norm`'s copy.
    ``crop``, ``grid``: score each image as the mean of a grid of windows
    (:func:`score_windows`; the fine-tuning recipe's, from :func:`recipe_scoring`);
    ``resize_short``: resample each image first (:func:`recipe_resize`).
    """
    paths = [str(p) for p in paths]
    if fold:
        model = fold_batch_norm(model)
    batch_size, workers = int(batch_size), int(workers)
    if batch_size < 1 or workers < 1:
        raise ConfigError(f"--batch-size and --workers must be >= 1, got {batch_size}, {workers}")
    window = 2 * batch_size + 2 * workers  # decoded or decoding images held at most
    max_waiting = max(2 * batch_size, 8)
    done: dict[int, tuple[float | None, str | None]] = {}
    buckets: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}

    def run(key) -> None:
        items = buckets.pop(key)
        x = torch.from_numpy(np.stack([img for _, img in items])).permute(0, 3, 1, 2)
        # uint8 to the device, then the same float().div_(255) as image_to_tensor
        x = to_device_images(x, device).float().div_(255.0)
        try:
            scores = score_windows(model, x, crop, grid, resize_short=resize_short)
            scores = scores.float().cpu().tolist()
        except GMIQAError as exc:  # e.g. smaller than the backbone's minimum size
            for i, _ in items:
                done[i] = (None, f"{paths[i]}: {' '.join(str(exc).split())}")
            return
        for (i, _), s in zip(items, scores):
            done[i] = (float(s), None)

    def oldest():
        return min(buckets, key=lambda k: buckets[k][0][0])

    emitted = 0
    futures = {}
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="gmiqa-decode")
    try:
        for i in range(min(window, len(paths))):
            futures[i] = pool.submit(_decode, paths[i])
        for i in range(len(paths)):
            img, error = futures.pop(i).result()
            if i + window < len(paths):
                futures[i + window] = pool.submit(_decode, paths[i + window])
            if error is not None:
                done[i] = (None, error)
            else:
                key = tuple(img.shape)
                buckets.setdefault(key, []).append((i, img))
                if len(buckets[key]) >= batch_size:
                    run(key)
                while sum(len(b) for b in buckets.values()) > max_waiting:
                    run(oldest())
            while emitted in done:
                yield (paths[emitted], *done.pop(emitted))
                emitted += 1
        while buckets:
            run(oldest())
            while emitted in done:
                yield (paths[emitted], *done.pop(emitted))
                emitted += 1
    finally:  # also when the caller stops early: drop the decodes not started
        pool.shutdown(wait=True, cancel_futures=True)


class QualityModel:
    """A fine-tuned GMIQA checkpoint ready to score images: what :func:`load_model` returns.

    Taught in ``notebooks/07_finetuning.ipynb``. ``score`` takes an image file, a list of
    files / folders / glob patterns, or a tensor, and scores each image as the checkpoint's
    fine-tuning recipe scores (:func:`recipe_scoring`), with BatchNorm folded
    (:func:`fold_batch_norm`), exactly as ``gmiqa score`` does.

    Attributes: ``model`` (the folded ``GMIQA`` in evaluation mode), ``checkpoint``
    (:class:`gmiqa.checkpoint.Checkpoint`), ``device``, ``profile`` (the name of the
    profile it was trained with), ``higher_is_better`` (True), ``score_range`` (the
    training targets' range, ``(0.0, 1.0)``), ``crop`` and ``grid`` (the recipe's scoring
    windows; ``None``, 0: whole images), ``resize_short`` (the recipe's resampling of a
    photo before scoring; ``None``: native size), ``batch_size`` and ``workers``.
    """

    higher_is_better = True
    score_range = SCORE_RANGE

    def __init__(self, model, checkpoint: Checkpoint, device, batch_size: int = 16,
                 workers: int | None = None) -> None:  # fmt: skip
        self.device = resolve_device(device)
        self.model = fold_batch_norm(model).to(self.device)
        self.checkpoint = checkpoint
        profile = checkpoint.config.get("profile")
        self.profile = str(profile.get("name", "")) if isinstance(profile, dict) else ""
        side = sidecar_path(checkpoint.path)
        self.crop, self.grid = recipe_scoring(checkpoint.config, side)
        self.resize_short = recipe_resize(checkpoint.config, side)
        self.batch_size = int(batch_size)
        self.workers = int(workers if workers is not None else min(4, os.cpu_count() or 1))
        if self.batch_size < 1 or self.workers < 1:
            raise ConfigError(
                f"batch_size and workers must be >= 1, got {self.batch_size}, {self.workers}"
            )

    def __repr__(self) -> str:
        return (f"QualityModel({self.checkpoint.path}, profile={self.profile!r}, "
                f"device={self.device}, crop={self.crop}, grid={self.grid})")  # fmt: skip

    def stream(self, paths: Sequence) -> Iterator[tuple[str, float | None, str | None]]:
        """``(path, score, error)`` per image file, in order (:func:`stream_scores`)."""
        return stream_scores(self.model, paths, self.device, self.batch_size, self.workers,
                             fold=False, crop=self.crop, grid=self.grid,
                             resize_short=self.resize_short)  # fmt: skip

    def stream_entries(self, entries) -> Iterator[tuple[str, float | None, str | None]]:
        """``(path, score, error)`` for :func:`expand_image_inputs` entries, in their order:
        an entry's own error (an empty folder, a pattern without matches) passes through."""
        scored = self.stream([p for p, err in entries if err is None])
        try:
            for path, error in entries:
                yield (path, None, error) if error is not None else next(scored)
        finally:
            scored.close()

    @torch.no_grad()
    def score_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Scores (N,) on the CPU of images ``x`` (N, 3, H, W) float in [0, 1].

        Values are never rescaled: a tensor in 0..255 (or uint8) would be scored as a
        different, over-exposed image, so a NaN, an infinity or a value outside [0, 1]
        raises ConfigError (divide by 255 first).
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ConfigError(f"expected images (N, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
        if x.is_complex() or x.dtype == torch.bool:
            raise ConfigError(f"expected a real float image tensor in [0, 1], got {x.dtype}")
        x = x.float()
        if x.numel():
            finite = torch.isfinite(x)
            if not bool(finite.all()):
                raise ConfigError(
                    f"image tensor holds {int((~finite).sum())} NaN or infinite value(s); "
                    "scores need finite pixels in [0, 1]"
                )
            low, high = float(x.min()), float(x.max())
            if low < 0.0 or high > 1.0:
                raise ConfigError(
                    f"image tensor values span {low:g}..{high:g}, not [0, 1] (a 0..255 "
                    "image: divide by 255 first); never rescaled, a guess would change "
                    "the score"
                )
        x = to_device_images(x, self.device)
        return score_windows(self.model, x, self.crop, self.grid,
                             resize_short=self.resize_short).float().cpu()  # fmt: skip

    def score(self, images):
        """Quality of ``images`` (higher = better, on :attr:`score_range`).

        - a file (``str`` or path): its score, a float;
        - a tensor (3, H, W): a float; (N, 3, H, W) in [0, 1]: a (N,) CPU tensor (a NaN,
          an infinity or a value outside [0, 1] raises ConfigError: never rescaled);
        - a folder, a glob pattern, or a list / tuple of files, folders and patterns:
          ``{path: score}`` in the order :func:`expand_image_inputs` gives.

        An unreadable file, an empty folder or a pattern without matches raises the
        :class:`gmiqa.errors.GMIQAError` naming it (``gmiqa score`` reports such files
        and goes on).
        """
        if isinstance(images, torch.Tensor):
            if images.dim() == 3:
                return float(self.score_tensor(images.unsqueeze(0))[0])
            return self.score_tensor(images)
        single = isinstance(images, str | os.PathLike)
        if single and Path(images).is_file():
            (_, score, error), *_ = list(self.stream([images]))
            if error is not None:
                raise_image_error(error)
            return score
        entries = expand_image_inputs([images] if single else list(images))
        for _, error in entries:
            if error is not None:
                raise_image_error(error)
        scores = {}
        for path, score, error in self.stream([p for p, _ in entries]):
            if error is not None:
                raise_image_error(error)
            scores[path] = score
        return scores


def raise_image_error(message: str) -> None:
    """Raise the :class:`gmiqa.errors.ImageReadError` of a message from :func:`stream_scores`."""
    raise ImageReadError(message)


def load_model(path: str | os.PathLike, device="auto", batch_size: int = 16,
               workers: int | None = None, allow_pretraining: bool = False) -> QualityModel:  # fmt: skip
    """Load a fine-tuned checkpoint for scoring: ``gmiqa.load_model(path).score(images)``.

    Taught in ``notebooks/07_finetuning.ipynb``. ``device``: auto, cpu, cuda, cuda:N.
    ``batch_size``: same-size images scored per model call; ``workers``: threads decoding
    files (default min(4, CPUs)). A checkpoint of a pre-training stage (meta, graph) is
    not trained on human ratings: it is a :class:`gmiqa.errors.CheckpointError` unless
    ``allow_pretraining`` (``gmiqa score`` allows it and prints a warning).
    """
    dev = resolve_device(device)
    ck = load_checkpoint(path)
    stage = pretraining_stage(ck)
    if stage is not None and not allow_pretraining:
        raise CheckpointError(
            f"{ck.path} is {STAGE_DESCRIPTIONS[stage]}; its scores are not quality "
            "predictions. Fine-tune it first (gmiqa finetune --init CKPT), or pass "
            "allow_pretraining=True"
        )
    return QualityModel(model_of_checkpoint(ck, dev), ck, dev, batch_size, workers)
