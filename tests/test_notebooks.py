"""Every notebook in _toc.yml runs under papermill with the smoke profile, and its recorded
metrics fall in the ranges asserted here (a notebook test checks results, not only that
it ran). Executed copies land in _build/executed/smoke/, where the book test builds from.

The checks below are facts (ranges a metric cannot leave, counts the profile fixes). The
empirical thresholds (a loss below some value, a baseline this far above chance, a
numerical difference below a tolerance) come from tests/metric_spreads.json: measured over
kernel levels, threads and seeds, each bound outside the spread by a stated margin
(benchmarks/metric_spreads.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from metric_spreads_bounds import out_of_bounds

from gmiqa.book import REPO, execute_notebook, executed_dir, toc_notebooks
from gmiqa.notebook import read_metrics

NOTEBOOK_TIMEOUT = 300  # seconds per notebook in the smoke profile


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


# One entry per notebook: a function that checks the recorded metrics (dict).
CHECKS = {}


def check(name):
    def register(fn):
        CHECKS[name] = fn
        return fn

    return register


@check("00_quickstart")
def _(m):
    assert m["pristine_images"] >= 5
    assert m["torch_version"]
    assert m["min_side"] >= 128


# --- checks for later notebooks are added below this line (one function each) ---


@check("09_results")
def _(m):
    # every measured number in the results chapter sits in a row with complete provenance
    assert m["provenance_fraction"] == 1.0 and m["measured_numbers"] >= 20
    assert m["paper_numbers"] == 10  # 4 sets x (SROCC, PLCC) + the two stated ablation gains
    assert m["tables"] >= 4 and m["rows_with_numbers"] >= 10
    assert m["same_splits"] is True  # baselines on the fine-tuning's own test images
    for key in ("synthetic_srocc_median", "niqe_srocc_median", "brisque_srocc_median"):
        assert _finite(m[key]) and -1.0 <= m[key] <= 1.0, key
    assert m["per_type_rows"] >= 3 * 6  # GMIQA, NIQE, BRISQUE x the smoke profile's 6 types
    assert m["ablation_rows_measured"] >= 1  # at least the full model
    assert m["paper_model_params"] == 27_377_541
    assert 30.0 < m["paper_model_gflops_512x384"] < 32.0  # measured 31.01 on the meta device
    assert _finite(m["profile_model_latency_ms"]) and m["profile_model_latency_ms"] > 0
    assert m["stored_result_files"] >= 0
    # the real-photo section: the LIVEC ablation when data/results holds one, else nothing
    assert m["livec_files"] >= 0
    if m["livec_files"] == 0:
        assert m["livec_rows"] == 0 and m["livec_splits"] == 0
        assert m["livec_srocc_medians"] == {} and m["livec_profile"] is None
    else:
        assert m["livec_rows"] >= 1 and m["livec_splits"] >= 1 and m["livec_profile"]
        assert len(m["livec_srocc_medians"]) == m["livec_rows"]
        for row, value in m["livec_srocc_medians"].items():
            assert _finite(value) and -1.0 <= value <= 1.0, row


@check("05_meta_learning")
def _(m):
    assert m["meta_steps"] == 4  # the smoke profile's meta-steps, all done
    losses = ("final_query_loss", "first_query_loss")
    for key in (*losses, "unseen_query_mse_before", "unseen_query_mse_after"):
        assert _finite(m[key]) and 0.0 <= m[key] < 1.0, key  # MSE of scores in [0, 1]
    # that the outer loop lowers the query loss: query_loss_drop in metric_spreads.json
    for key in ("first_support_loss", "final_support_loss"):
        assert _finite(m[key]) and 0.0 <= m[key] < 1.0, key
    # the smoke profile holds 2 references out of stages 1 and 2; no task draws them
    assert m["holdout_references"] == 2 and m["held_out_in_tasks"] == 0


@check("06_graph_pretraining")
def _(m):
    assert m["graph_steps"] == 6
    margin = m["margin"]
    assert margin == 0.5  # the smoke profile's margin (the paper's 0.1 stays in gpu)
    # unit-length codes: a hinge is at most 2 + margin (d(a, p) <= 2, d(a, n) >= 0)
    for key in ("first_triplet_loss", "final_triplet_loss"):
        assert _finite(m[key]) and 0.0 <= m[key] <= 2.0 + margin, key
    assert m["final_triplet_over_margin"] == pytest.approx(m["final_triplet_loss"] / margin)
    assert 0.0 <= m["final_triplet_over_margin"] <= (2.0 + margin) / margin
    for key in ("first_level_mse", "final_level_mse"):
        assert _finite(m[key]) and 0.0 <= m[key], key  # upper bounds: metric_spreads.json
    # per-image type cross-entropy: cosine logits in [-s, s] over 26 proxies bound it
    assert m["type_ce_chance"] == pytest.approx(math.log(6))  # the smoke profile's 6 types
    for key in ("first_type_ce", "final_type_ce"):
        assert _finite(m[key]) and 0.0 <= m[key] <= 2 * m["proxy_scale"] + math.log(26), key
    assert 0.0 <= m["triplet_accuracy"] <= 1.0
    assert _finite(m["level_srocc"]) and -1.0 <= m["level_srocc"] <= 1.0
    # the probe on the 2 references held out of stages 1 and 2 (smoke: 6 types x 5 levels)
    assert m["holdout_references"] == 2
    assert m["probe_types"] == 6 and m["probe_images"] == 2 * 6 * 5
    assert m["probe_chance"] == pytest.approx(1 / 6)
    for key in ("probe_knn_type_accuracy", "probe_knn_type_accuracy_graph"):
        assert _finite(m[key]) and 0.0 <= m[key] <= 1.0, key
    assert _finite(m["probe_level_srocc"]) and -1.0 <= m["probe_level_srocc"] <= 1.0


@check("07_finetuning")
def _(m):
    assert m["splits"] == 2
    for key in ("srocc_median", "srocc_mean", "plcc_median", "plcc_logistic_median"):
        assert _finite(m[key]) and -1.0 <= m[key] <= 1.0, key
    assert _finite(m["rmse_median"]) and 0.0 < m["rmse_median"] <= 1.0  # scores in [0, 1]
    assert _finite(m["final_train_loss"]) and m["final_train_loss"] >= 0.0
    assert m["score_exit_status"] == 2  # one valid and one non-image file were scored
    assert m["second_lock_refused"] is True  # one command per run folder
    assert m["stale_temporaries_removed"] == 1  # the temporary a kill left, and nothing else
    assert m["finetune_splits_match_results"] is True  # the splits the results were made on
    # the round trip on a folder of rated photos (gmiqa.datasets.folder)
    assert m["folder_images"] == 8 * (m["folder_groups"]) and m["folder_groups"] >= 2
    assert m["folder_score_max_diff"] < 1e-12  # written as DMOS on 0..10, read back
    assert m["folder_finetune_exit"] == 0 and m["folder_evaluate_exit"] == 0
    assert m["folder_evaluate_images"] == 16  # the two held-out scenes
    assert _finite(m["folder_evaluate_srocc"]) and -1.0 <= m["folder_evaluate_srocc"] <= 1.0
    assert m["folder_provenance_name"] == "held-out photos"
    assert _finite(m["folder_new_photo_score"])
    assert m["folder_bad_row_exit"] == 2 and m["folder_bad_row_wrote"] is False
    if "csiq_sample_srocc" in m:
        assert _finite(m["csiq_sample_srocc"]) and -1.0 <= m["csiq_sample_srocc"] <= 1.0


@check("10_baselines")
def _(m):
    assert m["n_items"] >= 100 and m["n_splits"] >= 2
    assert 16 <= m["niqe_patch"] <= 96 and m["niqe_pristine_blocks"] >= 36
    # On the synthetic set both baselines rank pseudo-quality above chance and order the
    # levels of a type (how far above: metric_spreads.json; the cpu profile measured NIQE
    # 0.33 / 0.34, BRISQUE 0.70 / 0.49: all 25 types, some invisible to NSS).
    for key in ("niqe_srocc_median", "brisque_srocc_median"):
        assert -1.0 <= m[key] <= 1.0, key
    for key in ("niqe_level_srocc_mean", "brisque_level_srocc_mean"):
        assert -1.0 <= m[key] <= 1.0, key
    assert m["mscn_shape_pristine"] > 0 and m["mscn_shape_blur"] > 0  # GGD shapes
    assert m["niqe_pristine_example"] > 0  # blur is less natural: niqe_blur_gain
    assert m["niqe_images_per_second"] > 0 and m["brisque_images_per_second"] > 0


@check("08_embedding_explorer")
def _(m):
    assert m["types"] >= 2 and m["images"] % m["types"] == 0  # the synthetic set is balanced
    assert m["batches"] >= 5 * m["types"]  # several one-type batches (graph codes) per type
    assert m["node_dim"] > 0 and m["views"] == 4 and m["umap_finite"] is True
    knn = {k: v for k, v in m.items() if k.startswith("knn_")}
    assert len(knn) == 10, sorted(knn)
    assert all(_finite(v) and 0.0 <= v <= 1.0 for v in knn.values()), knn
    for model in ("random_init", "pretrained"):
        assert _finite(m[f"level_spearman_{model}"]) and -1 <= m[f"level_spearman_{model}"] <= 1
    assert m["chance_type"] == pytest.approx(1 / m["types"])
    # the probe before/after pre-training, on the 2 references smoke holds out of stages 1-2
    assert m["probe_on_holdout"] is True and m["probe_references"] == 2
    assert m["probe_images"] == 2 * m["types"] * 5  # every type at 5 levels per reference
    assert m["probe_chance"] == pytest.approx(1 / m["types"])
    for key in ("probe_knn_type_accuracy_random_init", "probe_knn_type_accuracy_pretrained"):
        assert _finite(m[key]) and 0.0 <= m[key] <= 1.0, key
    # the live explorer, driven from code in the notebook: a type filter keeps that type only
    assert m["explorer_points_all"] == m["images"]
    assert m["explorer_points_one_type"] == m["images"] // m["types"]
    assert m["static_html_bytes"] > 3_000_000  # plotly.js travels inline, not from a CDN


@check("01_distortions")
def _(m):
    assert (m["n_types"], m["n_families"], m["n_levels"]) == (25, 7, 5)
    assert m["n_items"] == 125 * m["n_references"] and m["n_references"] >= 2
    # The pseudo-quality falls with level (how steeply, and the torch/numpy agreement:
    # metric_spreads.json).
    for key in ("mean_spearman_monotone_types", "mean_spearman_level_quality",
                "worst_monotone_type_spearman", "mean_spearman_within_reference"):  # fmt: skip
        assert -1.0 <= m[key] <= 1.0, key
    assert 0.0 <= m["fraction_monotone_types_falling"] <= 1.0
    assert 0.0 <= m["pseudo_quality_min"] < m["pseudo_quality_max"] <= 1.0
    assert m["torch_types"] >= 19
    assert m["torch_numpy_max_abs_diff"] >= 0.0
    assert _finite(m["numpy_images_per_s"]) and m["numpy_images_per_s"] > 0
    assert _finite(m["torch_images_per_s"]) and m["torch_images_per_s"] > 0


@check("02_self_calibrated_conv")
def _(m):
    assert m["scnet50_params"] == 25_564_584 and m["scnet50_params_m"] == 25.56
    assert m["resnet50_params"] == 25_557_032
    # meta-device counts, measured 7.85 and 8.18 GFLOPs (2 x MACs) at 224x224
    assert 7.6 < m["scnet50_gflops_224"] < 8.1 and 7.9 < m["resnet50_gflops_224"] < 8.4
    assert m["scnet50_min_input"] == 97
    # gradient-measured fields: a 5x5 conv sees 5 px; how much more the self-calibrated
    # ones see (rf_scconv, erf95_gain, rf_blocks_ratio): metric_spreads.json
    assert m["rf_plain_conv"] == 5 and m["rf_plain_blocks"] > 0
    assert m["profile_backbone_params"] > 0


@check("03_spatial_pyramid_pooling")
def _(m):
    assert m["n_images"] >= 3 and m["distinct_image_sizes"] >= 3 and m["distinct_map_sizes"] >= 3
    assert m["distinct_feature_lengths"] == 1 and m["feature_length"] >= 2
    assert m["spp_length"] % 21 == 0
    assert m["bucket_max_abs_diff"] >= 0.0  # tolerance: metric_spreads.json
    assert m["projection_params_full"] == 22_020_608
    assert m["projection_params_reduced"] == 3_277_824
    assert m["small_image_error"] is True and m["min_input_size"] >= 49


@check("04_distortion_graph")
def _(m):
    assert m["n_edges"] == m["n_images"] ** 2 and m["n_images"] >= 2
    assert _finite(m["graph_code_norm"]) and m["graph_code_norm"] > 0
    assert 0.0 <= m["triplet_loss"] <= 2.1  # unit codes: at most 2 + margin 0.1
    assert m["level_sigma_min"] > 0 and _finite(m["level_mse_untrained"])
    for key in ("dense_sparse_max_diff", "permutation_code_diff", "score_batch_diff"):
        assert m[key] >= 0.0, key  # tolerances: metric_spreads.json
    assert m["all_finite"] is True
    assert m["paper_params_total"] == 27_377_541
    assert 30.0 < m["paper_gflops_512x384"] < 32.0  # measured 31.01 on the meta device
    assert _finite(m["latency_ms_512x384"]) and m["latency_ms_512x384"] > 0


NOTEBOOKS = toc_notebooks()


@pytest.mark.notebook
@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_and_records_metrics(notebook: Path, shared_run_dir):
    out = executed_dir("smoke") / notebook
    execute_notebook(
        REPO / notebook, out, profile="smoke", run_dir=shared_run_dir, timeout=NOTEBOOK_TIMEOUT
    )
    assert notebook.stem in CHECKS, (
        f"{notebook}: no metrics check registered in tests/test_notebooks.py"
    )
    recorded = read_metrics(shared_run_dir, "smoke", notebook.stem)
    assert recorded["provenance"]["commit"]
    CHECKS[notebook.stem](recorded["metrics"])
    outside = out_of_bounds(notebook.stem, recorded["metrics"])
    assert not outside, "\n".join(outside)
