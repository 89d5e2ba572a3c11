"""Helpers every notebook shares: resolving parameters, recording metrics, showing source.

Conventions (see ``book/design.md``): the first code cell of each notebook is tagged
``parameters`` and sets ``PROFILE``, ``SEED``, ``DEVICE``, ``DATA_DIR`` and ``RUN_DIR``;
:func:`setup` turns them into a :class:`NotebookContext`; :func:`record_metrics` writes
the notebook's key numbers to ``RUN_DIR/<profile>/metrics/<notebook>.json`` where the
tests read them back and assert their ranges.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gmiqa.atomic import atomic_write_json
from gmiqa.device import resolve_device, seed_everything
from gmiqa.profiles import Profile, get_profile
from gmiqa.provenance import provenance


@dataclass
class NotebookContext:
    notebook: str
    profile: Profile
    seed: int
    device: torch.device
    data_dir: Path
    run_dir: Path  # RUN_DIR / profile name

    @property
    def checkpoints(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics" / f"{self.notebook}.json"


def setup(
    notebook: str,
    profile: str,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | Path = "../data/downloads",
    run_dir: str | Path = "../runs",
) -> NotebookContext:
    """Resolve a notebook's parameters: profile object, device, seeded RNGs, folders."""
    prof = get_profile(profile)
    dev = resolve_device(device)
    seed_everything(int(seed))
    run = Path(run_dir).expanduser().resolve() / prof.name
    run.mkdir(parents=True, exist_ok=True)
    ctx = NotebookContext(
        notebook, prof, int(seed), dev, Path(data_dir).expanduser().resolve(), run
    )
    print(f"{notebook}: profile={prof.name} ({prof.description}); device={dev}; seed={seed}")
    print(f"run folder: RUN_DIR/{prof.name} (RUN_DIR = {_shown_path(run.parent)})")
    return ctx


def _shown_path(path: Path) -> str:
    """``path`` as a reader should see it: relative to the working folder when inside it,
    else only its last part (temporary and home folders say nothing to a reader)."""
    try:
        return str(path.relative_to(Path.cwd().parent))
    except ValueError:
        return f".../{path.name}"


def record_metrics(ctx: NotebookContext, metrics: dict[str, Any]) -> None:
    """Write the notebook's key metrics (with provenance) where tests read them back.

    The file is ``ctx.metrics_path``; nothing is returned, so a notebook cell that ends
    with this call shows the printed table only.
    """
    clean = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor):
            value = value.item() if value.numel() == 1 else value.tolist()
        elif hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
            value = value.item()
        clean[key] = value
    payload = {
        "notebook": ctx.notebook,
        "profile": ctx.profile.name,
        "seed": ctx.seed,
        "metrics": clean,
        "provenance": provenance(device=str(ctx.device)),
    }
    atomic_write_json(ctx.metrics_path, payload)
    width = max((len(k) for k in clean), default=0)
    for key, value in clean.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"  {key:<{width}}  {shown}")


def read_metrics(run_dir: str | Path, profile: str, notebook: str) -> dict:
    """Read back what :func:`record_metrics` wrote (used by the tests and the results chapter)."""
    path = Path(run_dir) / profile / "metrics" / f"{notebook}.json"
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def show_source(obj: Any) -> Any:
    """Show the library source of ``obj`` in a notebook (syntax-highlighted when possible)."""
    src = inspect.getsource(obj)
    try:
        from IPython.display import Code, display  # optional (Jupyter): imported only where used

        display(Code(src, language="python"))
        return None
    except ImportError:  # plain Python
        print(src)
        return src
