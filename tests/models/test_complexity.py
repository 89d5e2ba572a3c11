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
