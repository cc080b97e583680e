"""The factors' degree-days follow the simulator's freeze–thaw physics.

QTR-sim plants a Stefan signal; the Stefan baseline, fitted on the degree-days that
``align_factors`` derives from the same temperatures, must then forecast the noise-free signal
better than the harmonic model. (With freezing counted from the season start instead of
the thaw onset it did worse than persistence: spring cold "heaved" frozen ground.)
"""

from __future__ import annotations

import numpy as np

from gler import Harmonic, Stefan, decimal_years, simulate_region


def test_stefan_baseline_fits_the_simulated_physics():
    """On clean QTR-sim data, Stefan beats the harmonic model (it lost by 2x before the fix)."""
    ds = simulate_region("beiluhe", size=12, seed=3, noise="none")
    clean = ds["displacement_clean"].values.reshape(ds.sizes["time"], -1)
    clean = clean[:, np.isfinite(clean).all(axis=0)]
    t = decimal_years(ds["time"].values)
    ddt = ds["thawing_degree_days"].values
    ddf = ds["freezing_degree_days"].values
    window, horizon = 30, 6
    stefan, harmonic = Stefan(window=window, horizon=horizon), Harmonic(window=window,
                                                                        horizon=horizon)
    errors = {"stefan": [], "harmonic": []}
    for issue in range(window - 1, len(t) - horizon, 5):
        span = slice(issue - window + 1, issue + horizon + 1)
        sd, truth = clean[span][:window].T, clean[span][window:].T
        errors["stefan"].append(stefan.predict(sd, t[span], ddt=ddt[span], ddf=ddf[span]) - truth)
        errors["harmonic"].append(harmonic.predict(sd, t[span]) - truth)
    rmse = {name: float(np.sqrt(np.mean(np.square(e)))) for name, e in errors.items()}
    assert rmse["stefan"] < 0.9 * rmse["harmonic"], rmse
