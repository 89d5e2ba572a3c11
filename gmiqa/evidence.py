"""The book's first evidence: fine-tuning on real photos, from the stored ablation files.

Taught in ``book/intro.md`` (its "Does it work on real photos?" section is made here when
the book is built) and ``notebooks/09_results.ipynb``. Reads
``data/results/ablation-livec-<profile>.json`` (split seed 0) and
``ablation-livec-<profile>-seed1.json`` (the confirmation on other splits) with
:func:`gmiqa.report.load_ablation`, which refuses a file without provenance, and says:

- per row (random start, each pre-training, the baselines): the median SROCC over the
  splits with its interquartile range, on both split seeds;
- on how many splits the full model (``graph``) is above BRISQUE and above the random
  start (the rows share their splits, so these are paired comparisons);
- the scale (profile, photos, splits) and the commit that made each file.

:func:`evidence_figure` draws every split of both seeds. Needs matplotlib only for the
figure.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from gmiqa.checkpoint import read_sidecar
from gmiqa.errors import GMIQAError
from gmiqa.profiles import get_profile
from gmiqa.report import ablation_result, load_ablation
from gmiqa.results import load_result, read_json, write_result
from gmiqa.training.loop import config_fingerprint

ROW_LABELS = {
    "none": "random start",
    "meta": "stage 1 only",
    "graph_nometa": "stage 2 only",
    "graph": "stages 1 + 2 (GMIQA)",
    "brisque": "BRISQUE + SVR",
    "niqe": "NIQE",
}


# ablation-<set>-<profile>[-seed<N>].json: a set name has no hyphen, a profile may
ABLATION_NAME = re.compile(
    r"^ablation-(?P<set>[^-]+)-(?P<profile>.+?)(?:-seed(?P<seed>\d+))?\.json$"
)
# How each stored development set holds its photos (a reader's name for the file's set).
SET_LABELS = {
    "livec": "LIVEC, lossless (BMP)",
    "livec_dev_jpg": "LIVEC, JPEG-stored",
}
SET_PLACEHOLDERS = {"livec": "LIVEC_DEV", "livec_dev_jpg": "LIVEC_DEV_JPG"}


def ablation_sets(results_dir: str | Path, profile: str = "cpu") -> dict[str, list[Path]]:
    """Every stored ablation of ``profile`` in ``results_dir``, by development set (the
    ``<set>`` of ``ablation-<set>-<profile>[-seed<N>].json``), ``livec`` first, each set's
    files by split seed (no ``-seed`` suffix: seed 0)."""
    found: dict[str, list[tuple[int, Path]]] = {}
    for path in sorted(Path(results_dir).glob("ablation-*.json")):
        m = ABLATION_NAME.match(path.name)
        if m and m["profile"] == profile:
            found.setdefault(m["set"], []).append((int(m["seed"] or 0), path))
    order = sorted(found, key=lambda name: (name != "livec", name))
    return {name: [p for _, p in sorted(found[name])] for name in order}


def evidence_files(results_dir: str | Path, profile: str = "cpu",
                   data_set: str = "livec") -> list[Path]:  # fmt: skip
    """The stored ablation files of ``profile`` on ``data_set``, split seed 0 first."""
    return ablation_sets(results_dir, profile).get(data_set, [])


def _paired_wins(rows: Mapping, a: str, b: str) -> tuple[int, int] | None:
    if a not in rows or b not in rows:
        return None
    x, y = rows[a]["per_split_srocc"], rows[b]["per_split_srocc"]
    return sum(1 for p, q in zip(x, y) if p > q), len(x)


def stored_ablations(results_dir: str | Path, profile: str = "cpu",
                     data_set: str = "livec") -> list[dict]:  # fmt: skip
    """The stored ablations of ``profile`` on ``data_set``, split seed 0 first; raises
    FileNotFoundError naming the seed-0 file when it is missing."""
    files = evidence_files(results_dir, profile, data_set)
    if not files or not files[0].name.endswith(f"-{profile}.json"):
        raise FileNotFoundError(
            f"{Path(results_dir) / f'ablation-{data_set}-{profile}.json'}: the stored "
            "ablation the book leads with is missing"
        )
    return [load_ablation(f) for f in files]


# how the README's sentences name each development set
SET_PHOTOS = {"livec": "LIVEC photos stored losslessly (BMP)",
              "livec_dev_jpg": "LIVEC photos stored as JPEG"}  # fmt: skip


def evidence_headline(results_dir: str | Path, profile: str = "cpu",
                      data_set: str = "livec") -> str:  # fmt: skip
    """The README's sentences on one development set: the real-photo result with its
    spread and its scale (profile, photos, splits, split seeds), read from the stored files.

    Raises FileNotFoundError naming the missing seed-0 file.
    """
    docs = stored_ablations(results_dir, profile, data_set)
    rows = [d["metrics"]["rows"] for d in docs]
    splits = max(int(r.get("splits") or 0) for r in rows[0].values())

    def medians(name: str) -> str:
        return " / ".join(f"{r[name]['srocc_median']:.2f}" if name in r else "not run"
                          for r in rows)  # fmt: skip

    def iqrs(name: str) -> str:
        return " / ".join(f"{r[name]['srocc_q25']:.2f}-{r[name]['srocc_q75']:.2f}"
                          if name in r else "not run" for r in rows)  # fmt: skip

    counts = []
    for other, label in (("none", "a random start"), ("brisque", "BRISQUE")):
        pairs = [_paired_wins(r, "graph", other) for r in rows]
        if all(pairs):
            counts.append(f"better than {label} on {sum(w for w, _ in pairs)} of "
                          f"{sum(n for _, n in pairs)} splits")  # fmt: skip
    parts = [f"**{medians('graph')}** after pre-training (IQR {iqrs('graph')})",
             f"{medians('none')} from a random start (IQR {iqrs('none')})"]  # fmt: skip
    if all("brisque" in r for r in rows):
        parts.append(f"{medians('brisque')} for BRISQUE (IQR {iqrs('brisque')})")
    photos = docs[0]["metrics"].get("images") or 300
    return (
        f"On {photos} {SET_PHOTOS.get(data_set, data_set)}, rated by people (a development "
        "set), the small network of "
        f"the `{docs[0]['provenance']['profile']}` profile, pre-trained for minutes on 2 CPU "
        f"cores, ranks the photos {' and '.join(counts)}. Median SROCC over {splits} splits "
        f"on each of {len(docs)} split seeds: " + ", ".join(parts) + "."
    )


CLEAR_MARGIN = 0.05  # the median SROCC margin over BRISQUE the project set as its bar
SEEDS_SEP = "\u00a0/\u00a0"  # split seed 0 / split seed 1, kept on one line of a table cell


def standing_markdown(results_dir: str | Path, profile: str = "cpu") -> str:
    """The intro's first screen: where GMIQA stands on every human-rated set stored.

    One row per development set (:func:`ablation_sets`): the full model's median SROCC on
    each split seed, BRISQUE's and the random start's on the same splits, and on how many
    splits the full model is above BRISQUE; then one line per set on the margin over
    BRISQUE, against :data:`CLEAR_MARGIN`. Raises FileNotFoundError when no ablation of
    ``profile`` is stored.
    """
    sets = ablation_sets(results_dir, profile)
    if not sets:
        raise FileNotFoundError(
            f"{Path(results_dir)}: no stored ablation-<set>-{profile}.json to say where "
            "GMIQA stands"
        )
    lines = ["| photos (300 per set) | GMIQA | BRISQUE | random start | GMIQA above BRISQUE |",
             "|---|---|---|---|---|"]  # fmt: skip
    notes, seeds, splits = [], set(), set()
    for name, files in sets.items():
        docs = [load_ablation(f) for f in files]
        rows = [d["metrics"]["rows"] for d in docs]
        seeds.update(int(d["metrics"].get("seed") or 0) for d in docs)
        splits.update(int(r["graph"].get("splits") or 0) for r in rows if "graph" in r)

        def medians(row: str, rows: list = rows) -> str:
            return SEEDS_SEP.join(f"{r[row]['srocc_median']:.2f}" if row in r else "not run"
                              for r in rows)  # fmt: skip

        pairs = [_paired_wins(r, "graph", "brisque") for r in rows]
        wins = (f"{sum(w for w, _ in pairs)} of {sum(n for _, n in pairs)} splits"
                if all(pairs) else "not measured")  # fmt: skip
        label = SET_LABELS.get(name, name)
        lines.append(f"| {label} | **{medians('graph')}** | {medians('brisque')} "
                     f"| {medians('none')} | {wins} |")  # fmt: skip
        if all("graph" in r and "brisque" in r for r in rows):
            margins = [r["graph"]["srocc_median"] - r["brisque"]["srocc_median"] for r in rows]
            said = " / ".join(f"{m:+.2f}" for m in margins)
            verdict = (
                "above the bar on every split seed"
                if min(margins) >= CLEAR_MARGIN
                else f"below the bar of {CLEAR_MARGIN:+.2f}: on these photos GMIQA is not "
                "shown to be better than BRISQUE"
            )
            notes.append(f"- {label}: margin over BRISQUE {said}, {verdict}.")
    seed_text = " / ".join(f"split seed {s}" for s in sorted(seeds))
    lines += [
        "",
        f"Median SROCC with human scores over {'/'.join(map(str, sorted(splits)))} random "
        f"80/20 splits ({seed_text}), the same splits in every column; profile `{profile}`, "
        f"{len(sets)} development sets of LIVEC photos. The bar the project set for calling "
        f"GMIQA better is a median margin of {CLEAR_MARGIN:.2f} over BRISQUE:",
        "",
        *notes,
    ]
    return "\n".join(lines)


def recipe_fingerprint(profile: str = "cpu") -> str:
    """A short hash of the settings that make a stored result: the profile's data, model,
    stage 1, stage 2 and fine-tuning settings (not the switches that give the same numbers,
    ``two_pass`` and ``vmap_tasks``). Stored evidence records it; a test compares it with
    the current profile's, so a result of an older recipe cannot pass as current.
    """
    p = get_profile(profile).to_dict()
    used = {k: p[k] for k in ("data", "model", "meta", "pretrain", "finetune", "amp")}
    used["meta"] = {k: v for k, v in used["meta"].items() if k != "vmap_tasks"}
    used["pretrain"] = {k: v for k, v in used["pretrain"].items() if k != "two_pass"}
    return config_fingerprint(used)


def evidence_markdown(results_dir: str | Path, profile: str = "cpu") -> str:
    """The intro's evidence as Markdown: a compact table and what it does and does not show.

    Raises FileNotFoundError naming the missing file when no seed-0 file is stored.
    """
    docs = stored_ablations(results_dir, profile)
    seeds = [d["metrics"].get("seed", 0) for d in docs]
    first = docs[0]["metrics"]["rows"]
    head = ["start", *[f"median SROCC, split seed {s} (IQR)" for s in seeds]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in first:
        cells = [ROW_LABELS.get(name, name)]
        for d in docs:
            r = d["metrics"]["rows"].get(name)
            cells.append(
                "not run"
                if r is None
                else f"{r['srocc_median']:.3f} ({r['srocc_q25']:.2f}-{r['srocc_q75']:.2f})"
            )
        if name == "graph":
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    p = docs[0]["provenance"]
    splits = max(int(r.get("splits") or 0) for r in first.values())
    facts = []
    for d, s in zip(docs, seeds):
        rows = d["metrics"]["rows"]
        wins = _paired_wins(rows, "graph", "brisque")
        gain = _paired_wins(rows, "graph", "none")
        said = (
            [f"split seed {s}: GMIQA above BRISQUE on {wins[0]} of {wins[1]} splits"]
            if wins
            else []
        )
        if gain:
            said.append(f"above the random start on {gain[0]} of {gain[1]}")
        commit = d["provenance"]["commit"][:10]
        facts.append(", ".join(said) + f" (commit `{commit}`, `{Path(d['source']).name}`)")
    lines += [
        "",
        f"Profile `{p['profile']}` (a small SCNet pre-trained for minutes on 2 CPU cores), "
        f"fine-tuned and tested on 300 LIVEC photos with human scores, {splits} random "
        "80/20 splits by image per seed; every row on the same splits. "
        + "; ".join(facts)[:1].upper()
        + "; ".join(facts)[1:]
        + ".",
    ]
    recipe = _recipe_sentence(docs[0]["metrics"])
    if recipe:
        lines[-1] += " " + recipe
    return "\n".join(lines)


def _recipe_sentence(metrics: Mapping) -> str:
    """What the file records about the recipe that made it (empty when it records none)."""
    pre = metrics.get("pretraining") or {}
    said = []
    if "meta" in pre and pre["meta"].get("steps"):
        said.append(f"stage 1 {pre['meta']['steps']:,} steps")
    if "graph" in pre and pre["graph"].get("steps"):
        said.append(f"stage 2 {pre['graph']['steps']:,} steps")
    probe = (pre.get("graph") or {}).get("probe") or {}
    if "knn_type_accuracy" in probe and "level_srocc" in probe:
        said.append(f"held-out probe after stage 2: 5-NN type accuracy "
                    f"{probe['knn_type_accuracy']:.2f}, level SROCC {probe['level_srocc']:.2f}")  # fmt: skip
    if not said:
        return ""
    fingerprint = metrics.get("recipe_fingerprint")
    tail = f", recipe fingerprint `{fingerprint}`" if fingerprint else ""
    return "The split seed 0 file records the recipe that made it: " + "; ".join(said) + tail + "."


def evidence_figure(results_dir: str | Path, path: str | Path, profile: str = "cpu") -> Path:
    """Every split's SROCC per row, one panel per stored development set
    (:func:`ablation_sets`), the split seeds side by side; saved as a PNG at ``path``."""
    import matplotlib  # optional (the notebooks extra): imported only where used

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional (the notebooks extra): imported only where used

    sets = ablation_sets(results_dir, profile)
    if not sets:
        raise FileNotFoundError(f"{Path(results_dir)}: no stored ablation of profile {profile}")
    fig, axes = plt.subplots(len(sets), 1, figsize=(8.0, 3.0 * len(sets)), sharey=True,
                             squeeze=False)  # fmt: skip
    rng = np.random.default_rng(0)
    for ax, (set_name, files) in zip(axes[:, 0], sets.items()):
        docs = [load_ablation(f) for f in files]
        names = list(docs[0]["metrics"]["rows"])
        width = 0.8 / len(docs)
        for k, d in enumerate(docs):
            rows = d["metrics"]["rows"]
            seed = d["metrics"].get("seed", 0)
            for j, name in enumerate(names):
                values = rows.get(name, {}).get("per_split_srocc") or []
                x = j + (k - (len(docs) - 1) / 2) * width
                ax.scatter(x + rng.uniform(-width / 4, width / 4, len(values)), values, s=12,
                           color=f"C{k}", label=f"split seed {seed}" if j == 0 else None)  # fmt: skip
                if values:
                    ax.hlines(np.median(values), x - width / 2.5, x + width / 2.5, color="black")
        ax.set_xticks(range(len(names)), [ROW_LABELS.get(n, n) for n in names], fontsize=8)
        ax.set_title(f"{SET_LABELS.get(set_name, set_name)} photos, profile {profile}",
                     fontsize=9)  # fmt: skip
        ax.set_ylabel("SROCC, one point per split", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


RECIPE_SEARCH = "recipe-search-livec-cpu.json"


def recipe_search_markdown(results_dir: str | Path) -> str:
    """Every fine-tuning variant tried (``data/results/recipe-search-livec-cpu.json``) as a
    Markdown table, best median first within each data folder and initialisation.

    Made into the design chapter's appendix when the book is built; raises
    FileNotFoundError naming the file when it is missing.
    """

    path = Path(results_dir) / RECIPE_SEARCH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the stored recipe search is missing")
    doc = load_result(path)
    runs = sorted(
        doc["metrics"]["runs"],
        key=lambda r: (r["data"], r["init"] != "graph", r["seed"], -r["srocc_median"]),
    )
    # five columns, the run's photos, start and split seed in one: the table fits the
    # book's text column at 1280 px
    lines = [
        "| photos, start, split seed | variant | changes to the earlier `cpu` recipe "
        "| median SROCC | IQR |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        changes = ", ".join(f"`{k}={v}`" for k, v in r["changes"].items()) or "none"
        lines.append(
            f"| {r['data']}, {r['init']}, {r['seed']} | {r['variant']} | {changes} "
            f"| {r['srocc_median']:.3f} | {r['srocc_q25']:.2f}-{r['srocc_q75']:.2f} |"
        )
    commits = sorted({r["commit"][:10] for r in runs})
    lines += [
        "",
        f"{len(runs)} runs of 10 splits each, from `{path.name}` (commits "
        + ", ".join(f"`{c}`" for c in commits)
        + "); the per-split values are in the file.",
    ]
    return "\n".join(lines)


JPEG_STORAGE = "jpeg-storage-livec-cpu.json"
# Stored results of an earlier recipe that the design chapter still compares against; a
# result here is labelled as such wherever it is shown, never as the current recipe.
EARLIER = "earlier"


def recipe_label(doc: Mapping, profile: str = "cpu") -> str:
    """A sentence, for the text under a table that shows ``doc``, saying that it was made
    by an earlier recipe of ``profile`` (its ``recipe_fingerprint``, or none recorded);
    the empty string for a result of the current recipe."""
    claimed = doc["metrics"].get("recipe_fingerprint")
    current = recipe_fingerprint(profile)
    if claimed == current:
        return ""
    which = f"fingerprint `{claimed}`" if claimed else "its file records no fingerprint"
    return (f"Made by an earlier `{profile}` recipe ({which}; the current one is "
            f"`{current}`): kept for comparison, not re-made.")  # fmt: skip


def jpeg_storage_markdown(results_dir: str | Path, profile: str = "cpu") -> str:
    """The design chapter's "JPEG storage" table, from ``data/results/jpeg-storage-livec-
    cpu.json`` (made by ``benchmarks/jpeg_storage.py``) and the stored ablations.

    One row per (how the photos are stored, split seed): the median SROCC (and IQR) of the
    ``cpu`` recipe, of the same recipe with JPEG re-storage in training, and of BRISQUE,
    on the same splits; then, per data folder, on how many splits re-storage beat the
    plain recipe. The plain recipe on the stored photos is the ablation's ``graph`` row.
    Raises FileNotFoundError naming the file when it is missing.
    """
    path = Path(results_dir) / JPEG_STORAGE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the stored JPEG-storage measurement is missing")
    doc = load_result(path)
    rows = [dict(r) for r in doc["metrics"]["rows"]]
    for seed, ablation in enumerate(stored_ablations(results_dir, profile)):
        graph = ablation["metrics"]["rows"]["graph"]
        rows.append(
            {
                "data": "livec_dev",
                "method": "base",
                "seed": seed,
                **{
                    k: graph[k]
                    for k in ("srocc_median", "srocc_q25", "srocc_q75", "per_split_srocc")
                },
            }
        )
    by = {(r["data"], r["method"], r["seed"]): r for r in rows}
    q = doc["metrics"]["stored_quality"]
    stored_as = {
        "livec_dev": "as LIVEC stores them (lossless)",
        "livec_dev_jpegmix": f"re-stored as JPEG, quality {q['min']}-{q['max']}",
    }
    methods = ("base", "base_jpeg30_95", "brisque")
    lines = ["| photos | split seed | `cpu` recipe | + JPEG re-storage in training | BRISQUE |",
             "|---|---|---|---|---|"]  # fmt: skip
    for data in stored_as:
        for seed in sorted({r["seed"] for r in rows}):
            cells = []
            for m in methods:
                r = by.get((data, m, seed))
                cells.append(f"{r['srocc_median']:.3f} ({r['srocc_q25']:.2f}-{r['srocc_q75']:.2f})"
                             if r else "not run")  # fmt: skip
            lines.append(f"| {stored_as[data]} | {seed} | " + " | ".join(cells) + " |")
    notes = []
    for data in stored_as:
        wins = total = 0
        for seed in sorted({r["seed"] for r in rows}):
            a, b = by.get((data, "base_jpeg30_95", seed)), by.get((data, "base", seed))
            if a and b:
                wins += sum(x > y for x, y in zip(a["per_split_srocc"], b["per_split_srocc"]))
                total += len(a["per_split_srocc"])
        if total:
            notes.append(f"re-storage in training beat the plain recipe on {wins} of {total} "
                         f"splits {stored_as[data].split(',')[0]}")  # fmt: skip
    commits = sorted({r["commit"][:10] for r in doc["metrics"]["rows"] if r.get("commit")})
    lines += ["", f"Median SROCC (interquartile range) over {doc['metrics']['splits']} splits "
              f"of the 300 photos; {'; '.join(notes)}. From `{path.name}` (runs at "
              + ", ".join(f"`{c}`" for c in commits)
              + ") and the stored ablations beside it; the per-split values are in the "
              "files."]  # fmt: skip
    label = recipe_label(doc, profile)
    if label:
        lines[-1] += " " + label
    return "\n".join(lines)


def store_ablation(summary_path: str | Path, out_path: str | Path, command: str,
                   profile: str = "cpu", data_set: str | None = None,
                   notes: str | None = None) -> Path:  # fmt: skip
    """``gmiqa ablation``'s summary as the stored evidence file, with the recipe that made it.

    Adds to the result document (:func:`gmiqa.report.ablation_result`) the fine-tuning
    settings of ``profile`` (a test compares them with the current profile, so a row of an
    older recipe cannot pass as current) and, for each pre-trained row, its checkpoint's
    fingerprint, stage lengths and held-out probe (the ``.probe.json`` beside it).
    ``data_set`` (the development set by name, e.g. ``"livec_dev_jpg (300 JPEG-stored
    LIVEC photos)"``) goes into the provenance, ``notes`` (how it ran) into the notes.
    A summary made from a tree with uncommitted changes (``<sha>+dirty``) is refused.
    """

    summary = read_json(summary_path)
    commit = str((summary.get("provenance") or {}).get("commit", ""))
    if commit.endswith("+dirty"):
        raise GMIQAError(
            f"{summary_path}: made from a tree with uncommitted changes ({commit}); stored "
            "evidence must name code that exists: commit, run again, then store it"
        )
    doc = ablation_result(summary, command)
    if data_set:
        doc["provenance"]["data_set"] = str(data_set)
    if notes:
        doc["notes"] = (doc.get("notes", "") + " " + str(notes)).strip()
    doc["metrics"]["finetune_recipe"] = get_profile(profile).to_dict()["finetune"]
    doc["metrics"]["recipe_fingerprint"] = recipe_fingerprint(profile)
    pretraining = {}
    for name, row in summary["rows"].items():
        init = row.get("init")
        if not init:
            continue
        sidecar = read_sidecar(init)
        config = sidecar.get("config", {})
        stage = config.get("profile", {}).get("pretrain" if "graph" in name else "meta", {})
        entry = {"fingerprint": config.get("fingerprint"), "steps": stage.get("steps")}
        probe = Path(init).with_suffix(".probe.json")
        if probe.is_file():
            p = read_json(probe)
            entry["probe"] = {k: p[k] for k in ("knn_type_accuracy", "knn_type_accuracy_graph",
                                                "level_srocc", "level_srocc_severity_types")
                              if k in p}  # fmt: skip
        pretraining[name] = entry
        row["init"] = Path(init).name  # the run folder's path means nothing elsewhere
    doc["metrics"]["rows"] = {k: dict(v) for k, v in summary["rows"].items()}
    doc["metrics"]["pretraining"] = pretraining
    return write_result(out_path, doc)


# --- the reproduce chapter's "Re-make every number" ---------------------------------------
REMAKE_PLACEHOLDERS = {
    "PRISTINE": "the 110 pristine photos listed in `data/pristine-photos.tsv`, in one "
    "folder tree (section 2, *The pristine photos*)",
    "LIVEC_DEV": "the 300-photo development set of lossless LIVEC photos that "
    "`gmiqa livec-dev` writes from a LIVEC download (section 2)",
    "LIVEC_DEV_JPG": "300 of LIVEC's JPEG-stored photos in the same layout; their list is "
    "not part of this repository, so these rows cannot be re-made from it alone",
    "RUN": "the run folder of the commands above (`runs`)",
    "DIR": "a working folder of the run that made the file (any folder of yours)",
    "DATA, ROW=CKPT, NAMES, S, RESULT": "the data folder, start checkpoint, variant names, "
    "split seed and result file of `benchmarks/finetune_variants.py` (its `--help`)",
}
WRAP = 76  # characters a code line of the 676-px text column shows without scrolling


def _recorded_seconds(obj) -> float:
    """The sum of every ``seconds`` / ``train_seconds`` number a result records (for a
    pre-training result, its stages' ``seconds`` and the image bank's, not the reruns)."""
    if isinstance(obj, Mapping) and isinstance(obj.get("stages"), Mapping):
        stages = sum(float(v.get("seconds") or 0) for v in obj["stages"].values())
        return stages + float((obj.get("wall_seconds") or {}).get("image_bank_s") or 0)
    if isinstance(obj, Mapping):
        return sum(
            float(v) if k in ("seconds", "train_seconds") and isinstance(v, (int, float))
            else _recorded_seconds(v)
            for k, v in obj.items()
        )  # fmt: skip
    if isinstance(obj, list):
        return sum(_recorded_seconds(v) for v in obj)
    return 0.0


def wrapped_command(command: str, width: int = WRAP) -> str:
    """``command`` as shell lines of at most ``width`` characters, joined by backslashes."""
    lines, line, tokens = [], "", []
    for token in command.split(" "):  # an option stays on the line of its value
        if tokens and tokens[-1].startswith("--") and " " not in tokens[-1] \
                and not token.startswith("-"):  # fmt: skip
            tokens[-1] += " " + token
        else:
            tokens.append(token)
    for token in tokens:
        if line and len(line) + 1 + len(token) > width - 2:
            lines.append(line + " \\")
            line = "    " + token
        else:
            line = f"{line} {token}" if line else token
    return "\n".join([*lines, line])


def _comment(text: str, width: int = WRAP) -> str:
    words, lines, line = text.split(), [], "#"
    for word in words:
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#  "
        line += " " + word
    return "\n".join([*lines, line])


def _writes(name: str, command: str) -> str:
    """What a stored file's command writes, and how it became ``data/results/name``."""
    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()

    def option(flag: str) -> str | None:
        return tokens[tokens.index(flag) + 1] if flag in tokens[:-1] else None

    if tokens[:2] == ["gmiqa", "ablation"]:
        seed = option("--split-seed")
        folder = f"{option('--out') or 'runs'}/{option('--profile') or 'cpu'}/results/"
        folder += f"split-seed-{seed}/" if seed and seed != "0" else ""
        return (f"writes {folder}ablation-{option('--dataset')}.json, stored as "
                f"data/results/{name} with gmiqa.evidence.store_ablation")  # fmt: skip
    if tokens[:2] == ["gmiqa", "pretrain"]:
        return (f"writes the checkpoints in {option('--out') or 'runs'}/"
                f"{option('--profile') or 'cpu'}/checkpoints/; the stage times and probes "
                f"it prints are data/results/{name}")  # fmt: skip
    out = option("--out")
    if out and out.endswith(".json"):
        return (f"writes {out}" if out == f"data/results/{name}"
                else f"writes {out}, stored as data/results/{name}")  # fmt: skip
    return f"writes its default result file, stored as data/results/{name}"


def remake_entries(results_dir: str | Path) -> list[dict]:
    """One entry per stored result file: ``file``, ``command`` (as printed: the machine's
    folders replaced by placeholders, :func:`gmiqa.results_table.public_command`),
    ``seconds`` (the times the file records, 0 when it records none) and ``writes``.

    The pre-training comes first (every ``cpu`` row needs its checkpoints), then the
    ablations, then the rest by name.
    """
    from gmiqa.results_table import public_command  # standard library only

    entries = []
    for path in sorted(Path(results_dir).glob("*.json")):
        doc = load_result(path)
        command = public_command(doc["provenance"]["command"])
        entries.append({"file": path.name, "command": command, "profile":
                        doc["provenance"].get("profile"),
                        "seconds": _recorded_seconds(doc["metrics"]),
                        "writes": _writes(path.name, command)})  # fmt: skip
    rank = {"gmiqa pretrain": 0, "gmiqa ablation": 1}
    return sorted(entries, key=lambda e: (rank.get(" ".join(e["command"].split()[:2]), 2),
                                          e["file"]))  # fmt: skip


def _duration(seconds: float) -> str:
    if seconds <= 0:
        return "time not recorded in the file"
    if seconds < 90:
        return f"{seconds:.0f} s on 2 CPU cores"
    return f"{seconds / 60:.0f} min on 2 CPU cores"


def remake_markdown(results_dir: str | Path) -> str:
    """The reproduce chapter's "Re-make every number": every stored result's command as a
    shell block (wrapped to the text column), with its recorded time and what it writes;
    the placeholders explained first. Made when the book is built; the docs test runs its
    ``gmiqa`` commands as printed (smoke profile, tiny data)."""
    from gmiqa.report import run_command

    entries = remake_entries(results_dir)
    used = {k for k in REMAKE_PLACEHOLDERS for e in entries
            if any(re.search(rf"\b{re.escape(w)}\b", e["command"]) for w in k.split(", "))}  # fmt: skip
    lines = ["The placeholders of the commands:", ""]
    lines += [f"- `{k}`: {v}." for k, v in REMAKE_PLACEHOLDERS.items() if k in used]
    setup = [
        "# the lossless development set, from a LIVEC download (section 2)",
        wrapped_command(
            run_command(
                "livec-dev",
                None,
                out="data/livec-dev",
                pristine=None,
                release="data/downloads/ChallengeDB_release",
            )
        ),  # fmt: skip
    ]
    lines += ["", "First the development set (`LIVEC_DEV` is `data/livec-dev`):", "",
              "```bash", *setup, "```", ""]  # fmt: skip
    lines += [
        "Then every stored result in `data/results/`, in the order to run them: the "
        "pre-training first (the ablations reuse its checkpoints in `runs/cpu/`). Times "
        "are those the files record (the fine-tuning rows of an ablation, the stages of "
        "the pre-training), on the 2 CPU cores that made them.",
        "",
    ]
    for e in entries:
        lines += [
            "```bash",
            _comment(f"{e['file']}: {_duration(e['seconds'])}"),
            wrapped_command(e["command"]),
            _comment(f"-> {e['writes']}"),
            "```",
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
