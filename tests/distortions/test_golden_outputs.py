"""The synthetic set's images and scores are those of the stored golden outputs.

``gmiqa.datasets.synthetic.DISTORTION_CODE_VERSION`` names the code that makes the
synthetic images and their pseudo-quality scores; it is part of every cache name and of
every pre-training stage's fingerprint. It is a constant, not a hash of the source, so
that moving or reformatting that code keeps run folders valid. This test is what keeps
the constant honest: it fails when any of the 25 types x 5 levels, or the score, gives
other outputs than ``golden_outputs.json``. When a change of outputs is meant, bump
``DISTORTION_CODE_VERSION`` and rewrite the file::

    PYTHONPATH=. python tests/distortions/test_golden_outputs.py --write

The file was written by the code of commit 546c242, before the distortion table moved
out of ``gmiqa/distortions/__init__.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from gmiqa.distortions import distort
from gmiqa.fr_quality import pseudo_quality

GOLDEN = Path(__file__).with_name("golden_outputs.json")
BLOCKS = 4  # block means on a 4 x 4 grid, per channel: 48 numbers an image


def _reference() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[40:136, 180:276])  # 96 x 96, face and suit


def _summary(reference: np.ndarray, type_id: int, level: int) -> dict:
    out = distort(reference, type_id, level, seed=1000 * type_id + level)
    h, w, c = out.shape
    blocks = out.reshape(BLOCKS, h // BLOCKS, BLOCKS, w // BLOCKS, c).mean(axis=(1, 3))
    return {
        "block_means": np.round(blocks.ravel(), 3).tolist(),
        "std": round(float(out.std()), 4),
        "pseudo_quality": round(float(pseudo_quality(out, reference)), 6),
    }


def golden_outputs() -> dict[str, dict]:
    ref = _reference()
    return {f"{t}-{lv}": _summary(ref, t, lv) for t in range(1, 26) for lv in range(1, 6)}


@pytest.fixture(scope="module")
def golden() -> dict[str, dict]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("type_id", range(1, 26))
def test_outputs_equal_the_golden_ones(golden, type_id):
    """Tolerances are far below what any change of a distortion moves (a level step moves
    block means by units of 8-bit levels) but above rounding across CPU instruction sets."""
    ref = _reference()
    for level in range(1, 6):
        got, want = _summary(ref, type_id, level), golden[f"{type_id}-{level}"]
        np.testing.assert_allclose(got["block_means"], want["block_means"], atol=0.05,
                                   err_msg=f"type {type_id} level {level}: block means")  # fmt: skip
        assert got["std"] == pytest.approx(want["std"], abs=0.01), (type_id, level)
        assert got["pseudo_quality"] == pytest.approx(want["pseudo_quality"], abs=1e-4), (
            type_id,
            level,
        )


def test_the_golden_file_covers_every_type_and_level(golden):
    assert sorted(golden) == sorted(f"{t}-{lv}" for t in range(1, 26) for lv in range(1, 6))


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/distortions/test_golden_outputs.py --write")
    lines = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in golden_outputs().items()]
    GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"written: {GOLDEN}")
