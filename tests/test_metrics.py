import numpy as np
import pytest

from gmiqa import metrics
from gmiqa.errors import ConfigError


def test_perfect_and_reversed_rank_agreement():
    t = np.linspace(0, 1, 20)
    assert metrics.srocc(t**3, t) == pytest.approx(1.0)
    assert metrics.krocc(-t, t) == pytest.approx(-1.0)


def test_known_values_against_hand_computation():
    p = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    t = np.array([2.0, 1.0, 4.0, 3.0, 5.0])
    # d = [1,1,1,1,0] -> rho = 1 - 6*4/(5*24) = 0.8 ; concordant 8, discordant 2 -> tau 0.6
    assert metrics.srocc(p, t) == pytest.approx(0.8)
    assert metrics.krocc(p, t) == pytest.approx(0.6)
    assert metrics.rmse(p, t) == pytest.approx(np.sqrt(4 / 5))


def test_logistic_mapping_linearises_a_monotone_nonlinearity():
    rng = np.random.default_rng(0)
    x = rng.uniform(-4, 4, 200)
    t = metrics.logistic4(x, 5.0, 1.0, 0.5, 0.8) + rng.normal(0, 0.01, x.size)
    m = metrics.correlation_metrics(x, t)
    assert m["plcc_logistic"] > 0.99 > m["plcc"]
    assert m["rmse_logistic"] < m["rmse"]


def test_constant_prediction_gives_nan_not_a_warning():
    t = np.arange(10.0)
    assert np.isnan(metrics.srocc(np.ones(10), t))


def test_bad_input_is_a_clear_error():
    with pytest.raises(ConfigError, match="differ in length"):
        metrics.srocc([1, 2, 3], [1, 2])
    with pytest.raises(ConfigError, match="NaN"):
        metrics.plcc([1, np.nan, 3], [1, 2, 3])


def test_summarise_median_and_mean():
    rows = [{"srocc": v, "n": 5} for v in (0.1, 0.5, 0.9, 0.7)]
    s = metrics.summarise(rows)
    assert s["srocc"]["median"] == pytest.approx(0.6)
    assert s["srocc"]["mean"] == pytest.approx(0.55)


def test_per_group_srocc():
    p = np.array([1, 2, 3, 3, 2, 1], dtype=float)
    t = np.array([1, 2, 3, 1, 2, 3], dtype=float)
    out = metrics.per_group_srocc(p, t, ["a", "a", "a", "b", "b", "b"])
    assert out["a"] == pytest.approx(1.0) and out["b"] == pytest.approx(-1.0)
