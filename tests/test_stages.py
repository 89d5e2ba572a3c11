"""The stage names (gmiqa.stages): groups expand in training order, upstream stages first."""

from __future__ import annotations

import pytest

from gmiqa.stages import (
    PRETRAIN_CHOICES,
    PRETRAINING_STAGES,
    SPOKESMAN_ORDER,
    STAGE_DESCRIPTIONS,
    expand_stages,
    stages_read,
)


@pytest.mark.parametrize(
    "stage, expected",
    [("both", ("meta", "graph")), ("all", ("meta", "graph", "graph_nometa")),
     ("meta", ("meta",)), ("graph_nometa", ("graph_nometa",))],
)  # fmt: skip
def test_a_stage_value_expands_to_the_stages_it_trains(stage, expected):
    assert stage in PRETRAIN_CHOICES
    assert expand_stages(stage) == expected


def test_stages_read_puts_upstream_first_once_and_skips_checkpoint_files():
    assert stages_read(["graph"]) == ["meta", "graph"]
    assert stages_read(["none", "Graph_NoMeta", "run/model.safetensors"]) == ["graph_nometa"]
    assert stages_read(["graph", "meta", "graph_nometa", "graph"]) == [
        "meta", "graph", "graph_nometa",
    ]  # fmt: skip
    assert stages_read(["none", "scratch"]) == []


def test_every_pretraining_stage_is_described_and_ordered():
    assert set(STAGE_DESCRIPTIONS) == set(PRETRAINING_STAGES) == set(SPOKESMAN_ORDER)
