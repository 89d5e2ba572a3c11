"""Checkpoints: safetensors weights plus a JSON sidecar, written atomically, loaded safely.

Taught in ``notebooks/05_meta_learning.ipynb`` (saving, resuming) and
``notebooks/07_finetuning.ipynb`` (loading a fine-tuned model to score images).

A checkpoint ``NAME.safetensors`` holds every tensor:

- ``model/<key>``: the model's ``state_dict`` (weights and BatchNorm buffers);
- ``optim/<i>/<key>``: the optimizer's per-parameter state (Adam moments, step);
- ``extra/<key>``: other learned tensors (e.g. Meta-SGD inner learning rates).

Its sidecar ``NAME.json`` holds everything else as plain JSON: the stage (``kind``), the
configuration that produced it (the profile as a dict, the seed), the training state
(step, finished or not, loss history), the optimizer's hyper-parameters, and the SHA-256
of the weights file so that a weights file and a sidecar from different runs are never
paired silently. Both files are written with :mod:`gmiqa.atomic`: weights first, then
the sidecar, so an interruption leaves either the previous pair or the new one.

Loading reads only safetensors and JSON; nothing is ever unpickled, so a checkpoint from
an untrusted source cannot run code. Every problem (missing file, corrupt data, a
sidecar that does not match its weights, weights that do not fit the model) raises
:class:`~gmiqa.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from gmiqa.atomic import atomic_write, atomic_write_json
from gmiqa.errors import CheckpointError

FORMAT = "gmiqa-checkpoint"
VERSION = 1
SUFFIX = ".safetensors"


@dataclass
class Checkpoint:
    """A loaded checkpoint (see :func:`load_checkpoint`); taught in ``05_meta_learning``."""

    path: Path  # the .safetensors file
    kind: str  # "meta", "graph", "finetune", ...
    model: dict[str, torch.Tensor]
    config: dict[str, Any]
    state: dict[str, Any]
    optimizer: dict[str, Any] | None = None  # a torch optimizer state_dict, or None
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def step(self) -> int:
        return int(self.state.get("step", 0))

    @property
    def done(self) -> bool:
        return bool(self.state.get("done", False))


def sidecar_path(path: str | os.PathLike) -> Path:
    """The JSON sidecar that belongs to a ``.safetensors`` checkpoint."""
    return Path(path).with_suffix(".json")


def _weights_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.suffix == ".json":  # accept either file of the pair
        path = path.with_suffix(SUFFIX)
    elif path.suffix != SUFFIX:
        path = path.with_name(path.name + SUFFIX)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _split_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors of an optimizer state_dict go to safetensors; the rest is JSON-able."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state_dict.get("state", {}).items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{index}/{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    meta = {"param_groups": state_dict.get("param_groups", []), "scalars": scalars}
    return tensors, meta


def _join_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split("/", 2)
        state.setdefault(int(index), {})[key] = value
    for index, values in meta.get("scalars", {}).items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta.get("param_groups", [])}


def save_checkpoint(
    path: str | os.PathLike,
    *,
    kind: str,
    model: dict[str, torch.Tensor] | torch.nn.Module,
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | dict | None = None,
    extra: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``path`` (``.safetensors``) and its JSON sidecar atomically; return the weights path.

    ``model`` is a module or a state_dict; ``config`` and ``state`` must be JSON-able.
    Taught in ``notebooks/05_meta_learning.ipynb``.
    """
    path = _weights_path(path)
    weights = model.state_dict() if isinstance(model, torch.nn.Module) else model
    tensors = {f"model/{k}": v.detach().cpu().contiguous() for k, v in weights.items()}
    optim_meta = None
    if optimizer is not None:
        sd = optimizer.state_dict() if isinstance(optimizer, torch.optim.Optimizer) else optimizer
        optim_tensors, optim_meta = _split_optimizer(sd)
        tensors.update(optim_tensors)
    for key, value in (extra or {}).items():
        tensors[f"extra/{key}"] = value.detach().cpu().contiguous()
    # Tied weights share storage; safetensors refuses shared tensors, so store copies.
    tensors = {k: v.clone() for k, v in tensors.items()}

    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT}))
    sidecar = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "weights": path.name,
        "weights_sha256": _sha256(path),
        "config": config,
        "state": dict(state or {}),
        "optimizer": optim_meta,
    }
    atomic_write_json(sidecar_path(path), sidecar)
    return path


# (key, accepted types, what it must be) of the sidecar's fields; each may also be absent.
_SIDECAR_FIELDS = (
    ("kind", str, "a string"),
    ("weights", str, "a file name"),
    ("weights_sha256", str, "a hex digest"),
    ("config", dict, "a JSON object"),
    ("state", dict, "a JSON object"),
    ("optimizer", dict, "a JSON object"),
)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_sidecar(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check the JSON sidecar of a checkpoint (no tensors are loaded)."""
    given = Path(path)
    weights = _weights_path(path)
    side = sidecar_path(weights)
    if given.is_dir():
        raise CheckpointError(
            f"{given}: is a folder, not a checkpoint (give its NAME.safetensors file)"
        )
    if given.is_file() and given.suffix not in (SUFFIX, ".json"):
        raise CheckpointError(
            f"{given}: not a GMIQA checkpoint (a NAME.safetensors weights file next to its "
            "NAME.json sidecar); pickled .pt/.pth/.ckpt files are never loaded (unpickling "
            "can run code)"
        )
    if not weights.exists():
        tried = f" (nor {weights.name})" if weights != given else ""
        raise CheckpointError(f"{given}: no such checkpoint file{tried}")
    if not weights.is_file():
        raise CheckpointError(f"{weights}: is not a file, not a checkpoint")
    if not side.exists():
        raise CheckpointError(
            f"{weights}: its sidecar {side.name} is missing (not a GMIQA checkpoint)"
        )
    try:
        with open(side, encoding="utf-8") as fh:
            meta = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{side}: unreadable checkpoint sidecar ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{side}: not a GMIQA checkpoint sidecar")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(
            f"{side}: corrupt checkpoint sidecar: 'version' is {version!r}, not an integer"
        )
    for key, types, what in _SIDECAR_FIELDS:
        value = meta.get(key)
        if value is not None and not isinstance(value, types):
            raise CheckpointError(
                f"{side}: corrupt checkpoint sidecar: {key!r} is {type(value).__name__} "
                f"{_short(value)}, not {what}"
            )
    if version > VERSION:
        raise CheckpointError(
            f"{side}: checkpoint format version {meta.get('version')} is newer than this "
            f"gmiqa understands ({VERSION})"
        )
    return meta


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint`; never unpickles anything.

    Raises CheckpointError naming the file when it is missing, corrupt, or does not match
    its sidecar. Taught in ``notebooks/05_meta_learning.ipynb``.
    """
    weights = _weights_path(path)
    meta = read_sidecar(path)  # the name as given, for its messages
    if meta.get("weights_sha256") != _sha256(weights):
        raise CheckpointError(
            f"{weights}: weights do not match their sidecar {sidecar_path(weights).name} "
            "(corrupt, or the two files come from different runs)"
        )
    try:
        tensors = load_file(str(weights), device=str(map_location))
    except Exception as exc:  # safetensors' Rust errors surface as several types
        raise CheckpointError(
            f"{weights}: corrupt safetensors file ({type(exc).__name__}: {exc})"
        ) from None
    model, optim, extra = {}, {}, {}
    for name, value in tensors.items():
        group, _, key = name.partition("/")
        if group == "model":
            model[key] = value
        elif group == "optim":
            optim[name] = value
        elif group == "extra":
            extra[key] = value
    if not model:
        raise CheckpointError(f"{weights}: holds no model weights")
    optimizer = None
    if meta.get("optimizer") is not None:
        optimizer = _join_optimizer(optim, meta["optimizer"])
    return Checkpoint(
        path=weights,
        kind=str(meta.get("kind", "")),
        model=model,
        config=meta.get("config") or {},
        state=meta.get("state") or {},
        optimizer=optimizer,
        extra=extra,
    )


def load_weights(
    module: torch.nn.Module,
    checkpoint: Checkpoint | str | os.PathLike,
    strict: bool = True,
    skip_prefixes: tuple[str, ...] = (),
) -> dict[str, list[str]]:
    """Copy a checkpoint's model weights into ``module``; a mismatch raises CheckpointError.

    ``strict=False`` allows missing or unexpected keys (e.g. loading a meta-learned
    backbone into a model with a new head) and returns them; shapes must always agree.
    Keys starting with one of ``skip_prefixes`` are not loaded. Taught in
    ``notebooks/06_graph_pretraining.ipynb``.
    """
    ck = checkpoint if isinstance(checkpoint, Checkpoint) else load_checkpoint(checkpoint)
    weights = {k: v for k, v in ck.model.items() if not k.startswith(tuple(skip_prefixes))}
    own = module.state_dict()
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in weights.items()
        if k in own and own[k].shape != v.shape
    ]
    if wrong:
        raise CheckpointError(
            f"{ck.path}: weights do not fit this model (was it trained with another "
            f"profile?): {'; '.join(wrong[:3])}{' ...' if len(wrong) > 3 else ''}"
        )
    missing = [k for k in own if k not in weights and not k.startswith(tuple(skip_prefixes))]
    unexpected = [k for k in weights if k not in own]
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{ck.path}: weights do not fit this model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    module.load_state_dict(weights, strict=False)
    return {"missing": missing, "unexpected": unexpected}
