"""The one slope fitter and the finite-width-correction fit used by the coordinate check's verdicts."""

import numpy as np
import pytest

from infwidth.fitting import fit_fluctuation, fit_loglog

N = np.array([64, 128, 256, 512, 1024, 2048], dtype=float)


def test_exact_power_law_and_seed_error():
    fit = fit_loglog(N, 3.0 * N**-0.5)
    assert fit.slope == pytest.approx(-0.5) and fit.intercept == pytest.approx(np.log(3.0)) and fit.stderr is None
    seeds = np.stack([N**-0.5, N**-0.6, N**-0.4], axis=1)
    fit = fit_loglog(N, seeds)
    assert fit.slope == pytest.approx(-0.5) and fit.stderr == pytest.approx(0.1 / np.sqrt(3))


def test_correction_column_keeps_a_pure_power_law_exact():
    fit = fit_loglog(N, N**0.25, correction=1.0)
    assert fit.slope == pytest.approx(0.25) and fit.correction == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError):
        fit_loglog(N[:3], N[:3], correction=1.0)


def test_fluctuation_fit_recognises_the_limit_plus_fluctuations():
    y = np.sqrt(0.0086 + 1.8 / N)  # muP's Delta f at d_in = 3072 (docs/networks.md)
    fl = fit_fluctuation(N, y, 0.0)
    assert fl.misfit < 1e-6 and fl.b == pytest.approx(1.8) and fl.share == pytest.approx(1.8 / (0.0086 * 2048))


@pytest.mark.parametrize("other", [-0.5, -0.25, 0.25])
def test_fluctuation_fit_rejects_another_exponent(other):
    # the correction alone (-1/2), a quarter-step off (which it mimics only partly), a growth
    fl = fit_fluctuation(N, N**other, 0.0)
    assert fl.share > 0.5 or fl.misfit > 0.02


def test_corrected_exponent_recovers_the_leading_law_and_refuses_a_pure_correction():
    import numpy as np

    from infwidth.fitting import fit_corrected_exponent

    n = np.array([32, 64, 128, 256, 512, 1024], dtype=float)
    fit = fit_corrected_exponent(n, n**-0.25 * np.sqrt(2.0 + 60.0 / n), around=0.0)
    assert abs(fit.exponent + 0.25) < 0.006 and abs(fit.crossover - 30.0) < 2.0
    noisy = (n**0.5 * np.sqrt(1 + 20 / n))[:, None] * np.exp(0.01 * np.random.default_rng(0).standard_normal((6, 4)))
    fit = fit_corrected_exponent(n, noisy, around=0.5)
    assert abs(fit.exponent - 0.5) < 0.05 and fit.stderr is not None and len(fit.per_seed) == 4
    # n^{-1/2} is "all correction" for e = 0 (C^2 = 0): refused, so its own exponent is found instead
    fit = fit_corrected_exponent(n, n**-0.5, around=0.0)
    assert abs(fit.exponent + 0.5) < 0.006 and fit.misfit < 0.01
