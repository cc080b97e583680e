"""gler: GLER-BiGRUnet for InSAR surface-deformation forecasting, reproduced.

Huo et al. (2024), IEEE JSTARS 17, 14848-14861, doi:10.1109/JSTARS.2024.3443833.

The public API is re-exported here; notebooks import only these names. ``train`` and
``evaluate`` stay under their modules (``gler.train.train``, ``gler.evaluate.evaluate``): a
package attribute cannot be both a submodule and a function. The submodules are
imported on first use (PEP 562), so ``import gler`` and ``gler --help`` stay fast and nothing
touches the disk or the network at import.

Example
-------
>>> import gler
>>> "gler" in gler.list_models()
True
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    # data in
    "REGIONS": "gler.data",
    "align_factors": "gler.data",
    "attach_factors": "gler.data",
    "decimal_years": "gler.data",
    "degree_days": "gler.data",
    "detect_format": "gler.data",
    "factor_names": "gler.data",
    "fetch": "gler.data",
    "list_datasets": "gler.data",
    "load_menyuan": "gler.data",
    "open_factors": "gler.data",
    "open_stack": "gler.data",
    "simulate": "gler.data",
    "simulate_region": "gler.data",
    "validate_stack": "gler.data",
    # models
    "BaselineConfig": "gler.models",
    "Forecaster": "gler.models",
    "GLERBiGRUNet": "gler.models",
    "GLERConfig": "gler.models",
    "GLEROutput": "gler.models",
    "count_flops": "gler.models",
    "count_parameters": "gler.models",
    "create_model": "gler.models",
    "list_models": "gler.models",
    "model_info": "gler.models",
    "register_model": "gler.models",
    "Harmonic": "gler.baselines",
    "LinearTrend": "gler.baselines",
    "Persistence": "gler.baselines",
    "SeasonalNaive": "gler.baselines",
    "Stefan": "gler.baselines",
    # training, forecasting, evaluation
    "Profile": "gler.profiles",
    "get_profile": "gler.profiles",
    "list_profiles": "gler.profiles",
    "Scaler": "gler.data.scaling",
    "SplitDates": "gler.data.sample",
    "SampleSpec": "gler.data.sample",
    "WindowDataset": "gler.data.windows",
    "pool_windows": "gler.data.multistack",
    "Fold": "gler.data.folds",
    "final_fit_sample": "gler.data.folds",
    "season_folds": "gler.data.folds",
    "TunedSettings": "gler.tuned",
    "read_tuned": "gler.tuned",
    "NonFiniteLossError": "gler.train",
    "Run": "gler.run",
    "TrainConfig": "gler.config",
    "TrainResult": "gler.train",
    "load_run": "gler.run",
    "predict": "gler.forecast",
    "save_forecast": "gler.forecast",
    "Evaluation": "gler.evaluate",
    "aggregate_seeds": "gler.tables",
    "summary_table": "gler.tables",
    "mae": "gler.metrics",
    "r2": "gler.metrics",
    "rmse": "gler.metrics",
    "skill": "gler.metrics",
    "Experiment": "gler.experiment",
    "transfer_table": "gler.tables",
    # probabilistic forecasts and alerts
    "Calibration": "gler.conformal",
    "QuantileCalibration": "gler.conformal",
    "calibrate": "gler.conformal",
    "calibrate_quantiles": "gler.conformal",
    "predict_quantiles": "gler.conformal",
    "probabilistic_scores": "gler.scoring",
    "quantile_scores": "gler.scoring",
    "alert_map": "gler.alerts",
    "verify_alerts": "gler.alerts",
    # scale
    "forecast_zarr": "gler.outofcore",
    "make_synthetic_frame": "gler.data.synthetic",
    "open_frame": "gler.outofcore",
    "synthetic_stack": "gler.data.synthetic",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str):
    if name not in _EXPORTS:
        msg = f"module 'gler' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
