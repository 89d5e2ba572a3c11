import torch

from gmiqa.models import build_model, complexity_report, count_parameters
from gmiqa.profiles import get_profile


def test_complexity_report_adds_up():
    torch.manual_seed(0)
    model = build_model(get_profile("smoke").model)
    r = complexity_report(model, input_size=(128, 160), repeats=2, warmup=0, graph_batch=3)
    params = dict(r["params"])
    total = params.pop("total")
    assert total == count_parameters(model) == sum(params.values())
    flops = dict(r["flops"])
    assert flops.pop("total") == sum(flops.values())
    assert flops["backbone"] > flops["spp"] > 0
    assert flops["meta_head"] == flops["type_discriminator"] == 0  # not on the scoring path
    assert r["pretrain_flops"] > 3 * r["flops"]["backbone"]
    assert r["latency_ms"] > 0 and len(r["latency_ms_all"]) == 2
    assert r["input_size"] == [128, 160] and r["device"] == "cpu" and r["amp_bf16"] is False
    assert not model.training


def test_full_size_flops_on_the_meta_device_without_timing():
    model = build_model(get_profile("gpu").model)
    r = complexity_report(model, input_size=(384, 512), device=torch.device("meta"), repeats=0)
    assert r["latency_ms"] is None and r["latency_ms_all"] == []
    # SCNet-50 is ~3.9 GMACs at 224x224; 512x384 has 3.92x the pixels: ~15.4 GMACs
    assert 28e9 < r["flops"]["backbone"] < 33e9
    assert round(r["params"]["backbone"] / 1e6, 2) == 23.52  # SCNet-50 without its fc
