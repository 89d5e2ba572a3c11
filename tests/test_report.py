"""Results tables: only provenance-complete sources, provenance next to every measured number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gmiqa import report
from gmiqa.book import REPO
from gmiqa.results import SCHEMA, load_results, paper_results

PROV = {
    "commit": "0123456789abcdef+dirty",
    "date": "2026-11-26T20:00:00+00:00",
    "device": "cpu",
    "profile": "cpu",
    "dataset": "synthetic",
    "command": "gmiqa finetune --profile cpu --dataset synthetic --init graph",
}


def _doc(source="synthetic_cpu.json", **prov):
    return {
        "schema": SCHEMA,
        "title": "t",
        "provenance": {**PROV, **prov},
        "metrics": {
            "srocc_median": 0.61,
            "plcc_median": 0.63,
            "splits": 3,
            "per_type_srocc_median": {"1": 0.7, "11": 0.5},
        },
        "source": source,
    }


def _finetune_json(path, with_provenance=True):
    split = {"metrics": {"srocc": 0.5, "plcc": 0.6}, "predictions": {"name": []}}
    raw = {
        "config": {"dataset": "synthetic", "seed": 0, "init": "x.safetensors",
                   "profile": {"name": "smoke"}},
        "splits": [split, split],
        "summary": {k: {"median": 0.5, "mean": 0.5} for k in ("srocc", "plcc")},
        "per_type_srocc_median": {"1": 0.4},
    }  # fmt: skip
    if with_provenance:
        raw["provenance"] = {"commit": "abc", "date": "2026-11-26T20:00:00+00:00", "device": "cpu"}
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("drop", ["provenance", "commit", "date", "device", "profile", "command"])
def test_tables_refuse_a_result_without_provenance_naming_the_file(drop):
    doc = _doc(source="data/results/livec_gpu.json", dataset="livec")
    if drop == "provenance":
        del doc["provenance"]
    else:
        del doc["provenance"][drop]
    for build in (
        lambda: report.overall_table(paper_results(), [doc]),
        lambda: report.per_type_table([doc], {}),
        lambda: report.ablation_table(paper_results(), [doc], {}),
    ):
        with pytest.raises(ValueError, match="livec_gpu.json"):
            build()


def test_a_results_folder_with_an_incomplete_file_fails_naming_it(tmp_path):
    bad = _doc()
    del bad["provenance"]["dataset"], bad["source"]
    (tmp_path / "bad_result.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ValueError, match="bad_result.json: provenance lacks dataset"):
        report.check_sources(load_results(tmp_path))


def test_finetune_results_without_provenance_are_refused(tmp_path):
    path = _finetune_json(tmp_path / "finetune-synthetic-graph.json", with_provenance=False)
    with pytest.raises(ValueError, match="finetune-synthetic-graph.json: no provenance"):
        report.finetune_result(path, "gmiqa finetune")


def test_finetune_results_become_a_result_with_their_command(tmp_path):
    path = _finetune_json(tmp_path / "finetune-synthetic-none.json")
    doc = report.finetune_result(path, "gmiqa ablation --profile smoke --inits none")
    prov = doc["provenance"]
    assert (prov["profile"], prov["dataset"], prov["init"]) == ("smoke", "synthetic", "none")
    assert prov["command"] == "gmiqa ablation --profile smoke --inits none"
    assert doc["metrics"]["srocc_median"] == 0.5 and doc["metrics"]["splits"] == 2
    assert doc["metrics"]["per_split"]["srocc"] == [0.5, 0.5]


def test_a_folder_result_is_shown_by_its_name_beside_the_paper_sets(tmp_path):
    path = _finetune_json(tmp_path / "finetune-folder-graph.json")
    raw = json.loads(path.read_text())
    raw["config"]["dataset"] = "folder"
    raw["provenance"]["data_source"] = {"name": "lab photos", "images": 40}
    path.write_text(json.dumps(raw), encoding="utf-8")
    doc = report.finetune_result(path, "gmiqa finetune --dataset folder --root DIR")
    assert doc["provenance"]["dataset"] == "folder: lab photos"
    markdown = report.overall_table(paper_results(), [doc]).to_markdown()
    assert _row_cells(markdown, "folder: lab photos")["SROCC"] == "0.500"


def test_a_number_without_a_result_is_refused():
    table = report.ResultsTable("t", ["set"], [], ["SROCC"])
    with pytest.raises(ValueError, match="no result with provenance"):
        table.add({"set": "x"}, {"SROCC": 0.5})


def _row_cells(markdown: str, first_cell: str) -> dict[str, str]:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == first_cell:
            return dict(zip(header, cells))
    raise AssertionError(f"no row {first_cell!r}")


def test_every_measured_number_has_its_provenance_in_its_row():
    doc = _doc()
    table = report.overall_table(paper_results(), [doc], {"synthetic": "synth"})
    md = table.to_markdown()
    row = _row_cells(md, "synth")
    assert (row["SROCC"], row["PLCC"], row["splits"]) == ("0.610", "0.630", "3")
    assert row["profile"] == "cpu" and row["dataset"] == "synthetic" and row["device"] == "cpu"
    assert row["commit"] == "0123456789 with uncommitted changes" and row["date"] == PROV["date"]
    assert row["source"] == "synthetic_cpu.json"
    assert row["paper SROCC"] == report.NOT_IN_PAPER
    # the paper's four sets: the paper's numbers, and a command where GMIQA was not measured
    livec = _row_cells(md, "LIVEC")
    assert (
        livec["paper SROCC"]
        == f"{paper_results()['tables']['overall']['rows']['LIVEC']['SROCC']:.3f}"
    )
    assert livec["SROCC"] == report.NOT_ON_MACHINE and livec["source"].startswith("run: gmiqa")
    html = table.to_html()
    assert "+dirty" not in html
    for value in (
        "0.610",
        ">0123456789<",
        "commit with uncommitted changes",
        PROV["date"],
        "synthetic_cpu.json",
    ):
        assert value in html
    counts = table.count()
    assert counts["measured"] == 3 and counts["measured_with_provenance"] == 3
    assert counts["paper"] == 8


def test_a_stored_result_on_a_paper_set_stands_beside_the_paper():
    doc = _doc(source="livec_gpu.json", dataset="livec", profile="gpu", device="cuda")
    row = _row_cells(report.overall_table(paper_results(), [doc]).to_markdown(), "LIVEC")
    paper = paper_results()["tables"]["overall"]["rows"]["LIVEC"]
    assert row["paper SROCC"] == f"{paper['SROCC']:.3f}"
    assert (row["SROCC"], row["profile"], row["device"]) == ("0.610", "gpu", "cuda")


def test_per_type_rows_carry_provenance():
    table = report.per_type_table([_doc()], {1: "gaussian_blur", 11: "white_noise"})
    recs = table.records()
    assert [r["type"] for r in recs] == [1, 11]
    assert all(r["paper SROCC"] == report.NOT_TRANSCRIBED for r in recs)
    assert all(r["commit"] and r["date"] and r["profile"] == "cpu" for r in recs)


def test_ablation_gains_are_computed_from_the_two_results():
    full = _doc(source="synthetic_cpu.json", init="graph")
    none = _doc(source="synthetic_cpu_nopretrain.json", init="none")
    none["metrics"]["srocc_median"] = 0.5
    table = report.ablation_table(paper_results(), [full, none], {"BL": "cmd-bl"})
    recs = {r["row"]: r for r in table.records()}
    assert recs["paper +SPP"]["gain over no pre-training %"] == pytest.approx(22.0)
    assert recs["paper +SPP"]["source"] == "synthetic_cpu.json"
    assert recs["paper BL+DGR"]["paper LIVEC gain %"] == 2.9  # from paper_results()
    assert recs["paper BL"]["source"] == "run: cmd-bl"
    assert recs["GMIQA init=none"]["SROCC"] == 0.5


def test_complexity_rows_say_where_latency_was_not_measured():
    rep = {
        "input_size": [384, 512],
        "params": {"backbone": 10, "total": 2_000_000},
        "flops": {"total": 3_000_000_000},
        "latency_ms": None,
    }
    prov = {k: PROV[k] for k in ("commit", "date", "device")}
    doc = report.complexity_result(
        rep, profile="smoke", dataset="random", command="c", provenance_block=prov,
        latency_note="not timed here",
    )  # fmt: skip
    rec = report.complexity_table([("m", doc)]).records()[0]
    assert rec["params (M)"] == 2.0 and rec["GFLOPs"] == 3.0
    assert rec["latency ms"] == "not timed here" and rec["source"] == "this run"


def test_the_results_chapter_types_no_paper_number():
    nb = json.loads((REPO / "notebooks" / "09_results.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(c["source"]) for c in nb["cells"])
    for row in paper_results()["tables"]["overall"]["rows"].values():
        for value in row.values():
            assert f"{value:.3f}" not in text
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_results_fit_the_tables_with_their_own_srocc_and_file():
    """Every fine-tuning result appears, with its own SROCC and file, in the tables: the
    init=graph ones in the overall table, every init in the ablation table. The stored
    results (today: none of this kind) go through the same tables."""
    docs = []
    for k, init in enumerate(("none", "meta", "graph_nometa", "graph")):
        doc = _doc(source=f"results/{init}.json", init=init)
        doc["metrics"]["srocc_median"] = 0.5 + k / 10
        docs.append(doc)
    stored = load_results(REPO / "data" / "results")
    gmiqa = docs + [r for r in stored if "srocc_median" in r["metrics"]]
    overall = report.overall_table(paper_results(), gmiqa).records()
    ablation = report.ablation_table(paper_results(), gmiqa, {}).records()
    for doc in gmiqa:
        srocc, name = doc["metrics"]["srocc_median"], Path(doc["source"]).name
        assert (srocc, name) in [(r["SROCC"], r["source"]) for r in ablation], name
        in_overall = (srocc, name) in [(r["SROCC"], r["source"]) for r in overall]
        assert in_overall == (report.init_of(doc) == "graph"), name


def test_no_ablation_gain_across_fine_tuning_configurations():
    full = _doc(source="a.json", init="graph", loss="mse(mu, score)")
    none = _doc(source="b.json", init="none")  # an older run without the loss recorded
    recs = {r["row"]: r for r in report.ablation_table(paper_results(), [full, none], {}).records()}
    assert recs["paper +SPP"]["gain over no pre-training %"] == report.MISSING


def test_stored_commands_and_datasets_name_no_folder_of_the_machine():
    from gmiqa.results_table import public_command, short_commit

    assert public_command("synthetic (/work/shared/data/pristine)") == "synthetic (PRISTINE)"
    assert (
        public_command("gmiqa ablation --root ../shared/data/livec_dev --out /tmp/x/runs --quiet")
        == "gmiqa ablation --root LIVEC_DEV --out DIR --quiet"
    )
    assert short_commit("3e080602497834ab+dirty") == "3e08060249 with uncommitted changes"
    doc = _doc(dataset="synthetic (/work/shared/data/pristine)")
    assert report.provenance_cells(doc)["dataset"] == "synthetic (PRISTINE)"


def test_html_tables_show_numbers_first_and_move_long_text_to_notes():
    """At a book page's width: numbers, profile and commit before the paper's columns;
    long label text and long value text in the row's note; every cell may wrap."""
    import re

    table = report.ablation_table(paper_results(), [_doc(init="graph"), _doc(init="none")], {})
    html = table.to_html()
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", html)
    assert heads[0] == "row" and "components" not in heads, heads
    assert heads.index("SROCC") < heads.index("profile") < heads.index("paper LIVEC gain %")
    # the paper's SROCC columns hold no number in any row: said once under the table
    assert "paper LIVEC SROCC" not in heads
    assert "no number in any row: paper LIVEC SROCC: not in the paper, not transcribed" in html
    assert heads[-1] == "note"
    assert "components: " + report.ABLATION_INITS["none"] in html  # moved into the note
    body = html.split("<p class='gmiqa-provenance'")[0]
    assert "not measured in this profile" not in body  # long value text: in the note
    cells = re.findall(r"<t[dh](?=[ >])([^>]*)>", body)
    assert cells and all("white-space:" in c for c in cells)
    assert re.search(r'<td style="white-space:nowrap">0\.610</td>', body)  # numbers: one line
    assert "components" in table.to_markdown()  # the Markdown form keeps every column


def test_run_command_gives_a_run_folder_what_it_needs():
    gpu = report.run_command("finetune", "gpu", dataset="livec", root="DATA_DIR", splits=10)
    assert gpu.split() == ["gmiqa", "finetune", "--profile", "gpu", "--dataset", "livec",
                           "--root", "DATA_DIR", "--splits", "10", "--pristine", "PRISTINE",
                           "--backbone-weights", "WEIGHTS", "--out", "runs"]  # fmt: skip
    cpu = report.run_command("ablation", "cpu", inits="none,graph", quiet=True)
    assert "--backbone-weights" not in cpu and "--quiet" in cpu.split()
    assert "--pristine PRISTINE" in cpu
    assert "--pristine" not in report.run_command("evaluate", "cpu", dataset="csiq")
    assert report.run_command("livec-dev", None, out="data/livec-dev", pristine=None,
                              release="R") == "gmiqa livec-dev --release R --out data/livec-dev"  # fmt: skip
    # the command Tables 1-2 print is this function's, with every flag
    assert report.measure_command("livec") == report.run_command(
        "finetune", "gpu", dataset="livec", root="DATA_DIR", init="graph", splits=10
    )
    for placeholder in ("PRISTINE", "WEIGHTS", "DATA_DIR"):
        assert placeholder in report.PLACEHOLDERS


def test_run_command_parses_with_the_real_command_line():
    from gmiqa.cli import build_parser

    parser = build_parser()
    for command in (
        report.measure_command("koniq10k"),
        report.run_command("ablation", "gpu-quick", dataset="livec", root="D", splits=10),
        report.run_command("pretrain", "cpu", stage="all"),
    ):
        args = parser.parse_args(command.split()[1:])  # exits 2 on an unknown flag
        assert args.command == command.split()[1]


def test_the_stored_ablation_rows_become_one_result_each():
    from gmiqa.evidence import ablation_sets

    path = ablation_sets(Path(__file__).resolve().parent.parent / "data" / "results")["livec"][0]
    doc = report.load_ablation(path)
    rows = report.ablation_row_results(doc, "livec_dev")
    names = [r["provenance"]["init"] for r in rows]
    assert names == [n for n, r in doc["metrics"]["rows"].items() if r.get("kind") == "gmiqa"]
    graph = rows[names.index("graph")]
    assert graph["metrics"]["srocc_median"] == doc["metrics"]["rows"]["graph"]["srocc_median"]
    assert graph["provenance"]["dataset"] == "livec_dev"
    assert graph["provenance"]["split_seed"] == 0
    table = report.ablation_table(paper_results(), rows, {})
    md = table.to_markdown()
    full = _row_cells(md, "paper +SPP")
    base = doc["metrics"]["rows"]["none"]["srocc_median"]
    gain = 100 * (graph["metrics"]["srocc_median"] - base) / base
    assert full["gain over no pre-training %"] == f"{gain:+.1f}"
