"""The book's lead evidence (gmiqa.evidence): made from the stored LIVEC ablation files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from gmiqa.evidence import evidence_figure, evidence_files, evidence_markdown

RESULTS = Path(__file__).resolve().parent.parent / "data" / "results"


def test_the_stored_evidence_names_its_rows_seeds_and_commits():
    text = evidence_markdown(RESULTS)
    docs = [json.loads(f.read_text()) for f in evidence_files(RESULTS)]
    assert len(docs) == 2, "the book leads with two split seeds"
    graph = [d["metrics"]["rows"]["graph"]["srocc_median"] for d in docs]
    for value in graph:  # the full model's medians appear as stored, in bold
        assert f"**{value:.3f}" in text
    for d in docs:
        assert d["provenance"]["commit"][:10] in text
        assert "+dirty" not in d["provenance"]["commit"]
    assert "GMIQA above BRISQUE on" in text and "random start" in text
    # the recipe the seed-0 file records, as a reader can check it against the file
    pre = docs[0]["metrics"]["pretraining"]["graph"]
    assert f"stage 2 {pre['steps']:,} steps" in text
    assert docs[0]["metrics"]["recipe_fingerprint"] in text


def test_a_missing_seed0_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ablation-livec-cpu.json"):
        evidence_markdown(tmp_path)


def test_paired_counts_follow_the_per_split_numbers(tmp_path):
    doc = json.loads((RESULTS / "ablation-livec-cpu.json").read_text())
    rows = doc["metrics"]["rows"]
    rows["brisque"]["per_split_srocc"] = [v + 1.0 for v in rows["graph"]["per_split_srocc"]]
    (tmp_path / "ablation-livec-cpu.json").write_text(json.dumps(doc))
    n = len(rows["graph"]["per_split_srocc"])
    assert f"GMIQA above BRISQUE on 0 of {n} splits" in evidence_markdown(tmp_path)


def test_the_figure_is_written(tmp_path):
    for f in evidence_files(RESULTS):
        shutil.copy(f, tmp_path / f.name)
    out = evidence_figure(tmp_path, tmp_path / "fig" / "e.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_stored_evidence_was_made_by_the_current_cpu_recipe():
    """A row made by an older recipe cannot pass as current: the file records its recipe."""
    from gmiqa.profiles import get_profile

    cpu = get_profile("cpu")
    for f in evidence_files(RESULTS):
        doc = json.loads(f.read_text())
        recipe = doc["metrics"]["finetune_recipe"]
        assert recipe == cpu.to_dict()["finetune"], (
            f"{f.name}: made by another fine-tuning recipe than the cpu profile's; re-run "
            "the ablation (its command is in the file) and store it with "
            "gmiqa.evidence.store_ablation"
        )
        pre = doc["metrics"]["pretraining"]
        assert pre["graph"]["steps"] == cpu.pretrain.steps
        assert pre["meta"]["steps"] == cpu.meta.steps if "meta" in pre else True
        assert 0.0 < pre["graph"]["probe"]["knn_type_accuracy"] <= 1.0


def test_store_ablation_records_recipe_and_pretraining(tmp_path):
    from gmiqa.checkpoint import save_checkpoint
    from gmiqa.evidence import store_ablation
    from gmiqa.models import build_model
    from gmiqa.profiles import get_profile
    from gmiqa.provenance import provenance

    cpu = get_profile("cpu")
    ck = save_checkpoint(tmp_path / "graph.safetensors", kind="graph",
                         model=build_model(get_profile("smoke").model),
                         config={"profile": cpu.to_dict(), "fingerprint": "abc"})  # fmt: skip
    (tmp_path / "graph.probe.json").write_text(json.dumps({"knn_type_accuracy": 0.5}))
    row = {"srocc_median": 0.7, "srocc_q25": 0.6, "srocc_q75": 0.8, "per_split_srocc": [0.7],
           "splits": 1, "kind": "gmiqa"}  # fmt: skip
    summary = {"dataset": "livec", "profile": "cpu", "seed": 0, "split_by": "image",
               "rows": {"none": {**row, "init": None}, "graph": {**row, "init": str(ck)}},
               "provenance": {**provenance(device="cpu"), "commit": "0123456789abcdef"}}  # fmt: skip
    (tmp_path / "s.json").write_text(json.dumps(summary))
    out = store_ablation(tmp_path / "s.json", tmp_path / "a.json", "gmiqa ablation ...")
    doc = json.loads(out.read_text())
    assert doc["metrics"]["finetune_recipe"]["eval_crops"] == cpu.finetune.eval_crops
    assert doc["metrics"]["pretraining"]["graph"] == {
        "fingerprint": "abc",
        "steps": cpu.pretrain.steps,
        "probe": {"knn_type_accuracy": 0.5},
    }
    assert doc["metrics"]["rows"]["graph"]["init"] == "graph.safetensors"  # no local paths
    assert "data_set" not in doc["provenance"]
    named = store_ablation(tmp_path / "s.json", tmp_path / "n.json", "gmiqa ablation ...",
                           data_set="livec_dev_jpg (300 JPEG-stored photos)",
                           notes="two side by side")  # fmt: skip
    named = json.loads(named.read_text())
    assert named["provenance"]["data_set"] == "livec_dev_jpg (300 JPEG-stored photos)"
    assert named["notes"].endswith("two side by side")
    summary["provenance"]["commit"] = "0123456789abcdef+dirty"
    (tmp_path / "s.json").write_text(json.dumps(summary))
    from gmiqa.errors import GMIQAError

    with pytest.raises(GMIQAError, match="uncommitted changes"):
        store_ablation(tmp_path / "s.json", tmp_path / "b.json", "gmiqa ablation ...")


def test_stored_evidence_claims_the_current_recipe_fingerprint():
    """Fails when the profile changed after the stored result the book shows was made."""
    from gmiqa.evidence import recipe_fingerprint

    shown = evidence_files(RESULTS)
    assert shown
    for f in sorted(RESULTS.glob("*.json")):
        doc = json.loads(f.read_text())
        claimed = doc["metrics"].get("recipe_fingerprint")
        if f in shown:
            assert claimed, f"{f.name}: the book shows it, but it records no recipe_fingerprint"
        if claimed:
            current = recipe_fingerprint(doc["provenance"]["profile"])
            assert claimed == current, (
                f"{f.name}: made by recipe {claimed}, the {doc['provenance']['profile']} "
                f"profile is now {current}: re-run it (its command is in the file)"
            )


def test_results_of_an_earlier_recipe_are_kept_apart_and_labelled():
    """data/results/earlier holds only results of an earlier recipe, each one labelled."""
    from gmiqa.evidence import EARLIER, recipe_fingerprint, recipe_label

    earlier = sorted((RESULTS / EARLIER).glob("*.json"))
    assert earlier
    readme = (RESULTS / EARLIER / "README.md").read_text(encoding="utf-8")
    for f in earlier:
        doc = json.loads(f.read_text())
        claimed = doc["metrics"].get("recipe_fingerprint")  # None: made before it was kept
        assert claimed != recipe_fingerprint(doc["provenance"]["profile"]), (
            f"{f.name}: made by the current recipe; it belongs in data/results"
        )
        assert f"`{f.name}`" in readme and (claimed is None or f"`{claimed}`" in readme)
        label = recipe_label(doc, doc["provenance"]["profile"])
        assert label.startswith("Made by an earlier") and (claimed or "") in label
    current = json.loads((RESULTS / "ablation-livec-cpu.json").read_text())
    assert recipe_label(current) == ""


def test_recipe_fingerprint_follows_the_settings_that_change_results(monkeypatch):
    from gmiqa import profiles
    from gmiqa.evidence import recipe_fingerprint

    before = recipe_fingerprint("cpu")
    cpu = profiles.get_profile("cpu")
    same = cpu.replace(pretrain={"two_pass": not cpu.pretrain.two_pass})
    other = cpu.replace(pretrain={"steps": cpu.pretrain.steps + 1})
    monkeypatch.setitem(profiles.PROFILES, "cpu", same)
    assert recipe_fingerprint("cpu") == before  # same gradients, same numbers
    monkeypatch.setitem(profiles.PROFILES, "cpu", other)
    assert recipe_fingerprint("cpu") != before


def test_the_readme_states_the_headline_numbers():
    """The README's lines are typed; they must say what the stored files say."""
    import re

    from gmiqa.evidence import evidence_headline

    readme = " ".join((RESULTS.parent.parent / "README.md").read_text().split())
    heads = [" ".join(evidence_headline(RESULTS, data_set=d).split())
             for d in ("livec", "livec_dev_jpg")]  # fmt: skip
    # each set's sentences open as the headline does, in this order
    starts = [readme.index(h[: h.index(" the small network")]) for h in heads]
    assert starts == sorted(starts)
    for head, start, end in zip(heads, starts, [*starts[1:], len(readme)]):
        facts = re.findall(
            r"\d\.\d\d / \d\.\d\d|\d\.\d\d-\d\.\d\d / \d\.\d\d-\d\.\d\d|\d+ of \d+ splits", head
        )
        assert len(facts) == 8  # three medians, three IQRs (two seeds each), two paired counts
        for fact in facts:
            assert fact in readme[start:end], (
                f"README.md does not say {fact!r} (the stored evidence does): {head}"
            )


def test_every_stored_development_set_is_found_by_its_file_name(tmp_path):
    from gmiqa.evidence import ablation_sets

    sets = ablation_sets(RESULTS)
    assert list(sets)[:1] == ["livec"] and "livec_dev_jpg" in sets
    for files in sets.values():  # split seed 0 first
        assert not files[0].stem.endswith(tuple(f"-seed{n}" for n in range(1, 10)))
    # a new set is read without code changes; another profile's file is not
    doc = json.loads((RESULTS / "ablation-livec-cpu.json").read_text())
    (tmp_path / "ablation-koniq_dev-cpu.json").write_text(json.dumps(doc))
    (tmp_path / "ablation-livec-gpu-quick.json").write_text(json.dumps(doc))
    assert list(ablation_sets(tmp_path)) == ["koniq_dev"]
    assert list(ablation_sets(tmp_path, "gpu-quick")) == ["livec"]


def test_the_standing_names_every_set_beside_brisque_and_the_bar():
    from gmiqa.evidence import (
        CLEAR_MARGIN,
        SEEDS_SEP,
        SET_LABELS,
        ablation_sets,
        standing_markdown,
    )

    text = standing_markdown(RESULTS)
    for name, files in ablation_sets(RESULTS).items():
        docs = [json.loads(f.read_text()) for f in files]
        line = next(x for x in text.splitlines() if x.startswith(f"| {SET_LABELS[name]} |"))
        graph = SEEDS_SEP.join(f"{d['metrics']['rows']['graph']['srocc_median']:.2f}" for d in docs)
        brisque = SEEDS_SEP.join(
            f"{d['metrics']['rows']['brisque']['srocc_median']:.2f}" for d in docs
        )
        assert f"**{graph}**" in line and brisque in line, line
        margins = [d["metrics"]["rows"]["graph"]["srocc_median"]
                   - d["metrics"]["rows"]["brisque"]["srocc_median"] for d in docs]  # fmt: skip
        note = next(x for x in text.splitlines() if x.startswith(f"- {SET_LABELS[name]}:"))
        assert ("not shown to be better" in note) == (min(margins) < CLEAR_MARGIN), note


def test_the_standing_says_when_no_result_is_stored(tmp_path):
    from gmiqa.evidence import standing_markdown

    with pytest.raises(FileNotFoundError, match="ablation-<set>-cpu.json"):
        standing_markdown(tmp_path)


def test_the_remake_section_lists_every_stored_result_in_lines_that_fit():
    from gmiqa.evidence import WRAP, remake_entries, remake_markdown

    text = remake_markdown(RESULTS)
    stored = sorted(p.name for p in RESULTS.glob("*.json"))
    assert sorted(e["file"] for e in remake_entries(RESULTS)) == stored
    for name in stored:
        assert f"# {name}: " in text, name
    assert remake_entries(RESULTS)[0]["command"].startswith("gmiqa pretrain")
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    assert len(blocks) == len(stored) + 1  # the development set first
    for block in blocks:
        for line in block.splitlines():
            # longer only when it holds one option and its value (nothing to break at)
            assert len(line) <= WRAP or line.strip().rstrip(" \\").count(" ") <= 1, line
    for placeholder in ("PRISTINE", "LIVEC_DEV", "LIVEC_DEV_JPG"):
        assert f"- `{placeholder}`: " in text
    assert "/work/" not in text and "../shared" not in text
    ablation = next(e for e in remake_entries(RESULTS) if e["file"] == "ablation-livec-cpu.json")
    assert "runs/cpu/results/ablation-livec.json" in ablation["writes"]
    assert ablation["seconds"] > 0  # the fine-tuning rows record their time


def test_the_recipe_search_table_shows_every_run_in_five_columns():
    from gmiqa.evidence import RECIPE_SEARCH, recipe_search_markdown

    text = recipe_search_markdown(RESULTS)
    runs = json.loads((RESULTS / RECIPE_SEARCH).read_text())["metrics"]["runs"]
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == len(runs) + 1  # the header
    assert all(line.count(" | ") == 4 for line in rows), rows[0]
    for r in runs:
        assert f"| {r['data']}, {r['init']}, {r['seed']} | {r['variant']} |" in text
        assert f"| {r['srocc_median']:.3f} |" in text
