"""Named parameter sets (simulator size, model size, training, seeds) in one place.

- ``smoke``: minutes on a 2-core CPU for train + predict + evaluate on QTR-sim Beiluhe (CI,
  notebook checks). Small model, few epochs, capped samples per epoch.
- ``book``: what the published book runs on a 2-core CPU in about half an hour: four regions
  at 32 × 32, small models, three seeds for GLER and the neural baselines.
- ``paper``: the full experiment of ``evaluation.md``: four regions at 128 × 128, the default
  model sizes, every neural baseline, five seeds. Meant for a GPU (``--device auto``). On a
  CPU it is a matter of a day, not hours: one GLER run (Beiluhe, seed 0, one thread of a
  2-core AMD EPYC VM) stopped early after 13 epochs of 200,000 windows in 1,401 s, and the
  profile trains 160 neural runs (GLER plus seven baselines, five seeds, four regions). On one
  NVIDIA H200 a GLER run takes about a minute alone, and with ``--jobs 16`` the whole profile
  (204 runs with the ablations and transfers) about half an hour (``benchmarks/NOTES.md``).

Settings tuned by ``gler tune`` (:mod:`gler.tuned`) are applied with
:meth:`Profile.with_tuned`: the tuned profile's :meth:`~Profile.train_config` and
:meth:`~Profile.model_overrides` then give each model its own chosen settings.

Example
-------
>>> from gler.profiles import get_profile
>>> get_profile("smoke").train.epochs > 0
True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import xarray as xr

from gler.config import HEAD_LEVELS, TrainConfig, digest
from gler.data.sample import SampleSpec
from gler.models._registry import list_models, model_info
from gler.tuned import TunedModel, TunedSettings, read_tuned

logger = logging.getLogger(__name__)

#: The four QTR-sim regions, in the order of the paper's table.
REGIONS = ("xidatan", "wudaoliang", "beiluhe", "tuotuohe")
#: Factors the profiles feed the neural models: the drivers of the simulated physics (the
#: Stefan clock and the wetness that scales thaw settlement). With all eleven scene-wide
#: QTR-sim factors the networks learn to recognise each training date by its weather and fit
#: that date's atmospheric noise, which does not carry over to the test year (measured on
#: Beiluhe: RMSE 3.5 mm with all factors vs 2.6 mm with these five, smoke budget).
DRIVER_FACTORS = ("air_temperature", "precipitation", "soil_moisture",
                  "sqrt_thawing_degree_days", "sqrt_freezing_degree_days")


@dataclass(frozen=True)
class Profile:
    """A named set of experiment parameters.

    Attributes
    ----------
    name, description
        Identification.
    regions, size, noise
        QTR-sim regions, grid size (pixels per side) and noise preset.
    seeds
        Training seeds (several give the stability over seeds).
    train
        The :class:`~gler.config.TrainConfig` (its ``seed`` is replaced by each of ``seeds``).
    sample
        The :class:`~gler.data.sample.SampleSpec` (window, horizon, split, gap rule); its
        factors are chosen by :meth:`select_factors`.
    gler_overrides, baseline_overrides
        Model config fields for the GLER variants and for the neural baselines.
    compare
        Whether the neural baselines (the registry's ``baseline`` tag) are trained next to GLER
        for the comparison table; :attr:`compared` lists them.
    factors
        Preferred factors (see :meth:`select_factors`); None: all factors of the data.
    tuned
        Settings chosen by ``gler tune`` per model (:meth:`with_tuned`); None: the
        profile's own for every model.
    tuning
        The tuning budget (a name of :data:`gler.tune.BUDGETS`) with which
        :class:`~gler.experiment.Experiment` tunes GLER and the compared models before it
        trains them; None: no tuning.
    final_fit
        Whether the experiment's runs are final fits (training and validation periods, the
        tuned epoch count, no early stopping) instead of early-stopped on the last fold.
    quantiles
        The levels of the quantile heads that the early-warning chapter trains next to the
        point runs (:meth:`gler.experiment.Experiment.train` with ``quantiles=True``).
    """

    name: str
    description: str
    regions: tuple[str, ...]
    size: int
    seeds: tuple[int, ...]
    train: TrainConfig
    noise: str = "default"
    sample: SampleSpec = field(default_factory=SampleSpec)
    gler_overrides: dict = field(default_factory=dict)
    baseline_overrides: dict = field(default_factory=dict)
    compare: bool = False
    factors: tuple[str, ...] | None = DRIVER_FACTORS
    tuned: TunedSettings | None = None
    tuning: str | None = None
    final_fit: bool = False
    quantiles: tuple[float, ...] = HEAD_LEVELS

    @property
    def compared(self) -> tuple[str, ...]:
        """The neural baselines trained next to GLER (none unless :attr:`compare`)."""
        return tuple(list_models("neural", tag="baseline")) if self.compare else ()

    def model_overrides(self, model_name: str) -> dict:
        """Config overrides for ``model_name``: the GLER family's, the other neural models'
        (classical baselines have none), then the tuned ones of ``model_name``."""
        info = model_info(model_name)
        if info.family == "gler":
            overrides = dict(self.gler_overrides)
        else:
            overrides = dict(self.baseline_overrides) if info.kind == "neural" else {}
        tuned = self.tuned_for(model_name)
        return {**overrides, **(tuned.model_overrides if tuned else {})}

    def tuned_for(self, model_name: str) -> TunedModel | None:
        """The tuned settings of ``model_name`` (None: untuned). A GLER ablation takes GLER's:
        it changes one module under the same settings, so that the ablation measures the
        module and not the tuning."""
        if self.tuned is None:
            return None
        tuned = self.tuned.model(model_name)
        if tuned is None and model_info(model_name).family == "gler":
            tuned = self.tuned.model(list_models(tag="proposed")[0])
        return tuned

    def with_tuned(self, tuned: str | Path | TunedSettings,
                   data: xr.Dataset | Sequence[xr.Dataset] | None = None) -> Profile:
        """This profile with the settings ``gler tune`` chose (a ``tuned.json`` path or the
        settings), checked against ``data`` when given.

        The tuned profile is named ``<name>-tuned-<digest of the settings>``, so that caches
        keyed by the name keep tuned and untuned runs apart.

        Raises
        ------
        ValueError
            If the settings were tuned by another gler release, for another profile, or (with
            ``data``) on other data; the message says why.
        """
        settings = tuned if isinstance(tuned, TunedSettings) else read_tuned(tuned)
        where = f"{settings.path}" if settings.path else "The tuned settings"
        if settings.profile != self.name:
            msg = (f"{where} were tuned for the profile {settings.profile!r}, not "
                   f"{self.name!r}: they change that profile's settings. Use --profile "
                   f"{settings.profile}, or tune this profile (gler tune --profile {self.name}).")
            raise ValueError(msg)
        if data is not None:
            settings.check_data(data)
        key = digest({k: v for k, v in settings.to_dict().items() if k != "date"})
        return replace(self, name=f"{self.name}-tuned-{key}", tuned=settings,
                       description=f"{self.description}; tuned settings from {where}")

    def select_factors(self, available: list[str]) -> tuple[str, ...] | None:
        """The profile's factors present in ``available`` (None: use all of ``available``).

        User data rarely carry the same factor set as QTR-sim: the preferred factors that are
        present are used (the others are logged); if none is present, all available ones are.
        """
        if self.factors is None:
            return None
        chosen = tuple(f for f in self.factors if f in available)
        missing = sorted(set(self.factors) - set(chosen))
        if missing and chosen:
            logger.info("Profile %s: factors %s are not in the data; using %s", self.name,
                        missing, list(chosen))
        return chosen or None

    def train_config(self, seed: int | None = None, *, model: str | None = None,
                     final_fit: bool = False, **changes: Any) -> TrainConfig:
        """The profile's TrainConfig with ``seed`` and other non-None ``changes`` applied.

        Parameters
        ----------
        seed
            The training seed.
        model
            The model to train: a tuned profile applies its tuned settings (needed then).
        final_fit
            The final fit on training and validation data: no early stopping, and the tuned
            epoch count (train on :func:`gler.data.folds.final_fit_sample`).
        **changes
            Other fields (``None`` values are ignored); they win over the tuned ones.

        Raises
        ------
        ValueError
            If the profile is tuned and ``model`` is not given.
        """
        config = self.train
        if self.tuned is not None:
            if model is None:
                msg = (f"Profile {self.name} carries tuned settings per model; pass "
                       "model=NAME to train_config.")
                raise ValueError(msg)
            tuned = self.tuned_for(model)
            if tuned is not None:
                config = config.replace(**tuned.train_changes)
                if final_fit:
                    config = config.replace(epochs=tuned.epochs)
        if final_fit:
            config = config.replace(early_stopping=False)
        return config.replace(seed=seed, **changes)

    def sample_spec(self, *, available: list[str] | None = None, **changes: Any) -> SampleSpec:
        """The profile's SampleSpec with non-None ``changes`` applied.

        Its factors are the profile's :attr:`factors`, or with ``available`` (the data's factor
        names) those chosen by :meth:`select_factors`; a ``factors`` change wins.
        """
        sample = self.sample.replace(**changes)
        if changes.get("factors") is None:
            factors = self.factors if available is None else self.select_factors(available)
            sample = replace(sample, factors=factors)
        return sample


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        tuning="smoke",
        description="about a minute on a 2-core CPU: Beiluhe 32 x 32, small GLER, 12 epochs",
        regions=("beiluhe",),
        size=32,
        seeds=(0,),
        # One thread: on a busy 2-core machine two threads for these small matrices are
        # several times slower than one.
        train=TrainConfig(epochs=12, batch_size=256, lr=3e-3, weight_decay=0.01, patience=4,
                          pixel_fraction=0.5, max_samples_per_epoch=8192, num_threads=1),
        gler_overrides={"d_model": 16, "n_heads": 2, "dense_dim": 8, "conv_dim": 8,
                        "gru_hidden": 16, "dropout": 0.1},
        baseline_overrides={"hidden": 16, "num_layers": 1, "n_heads": 2, "dropout": 0.1},
    ),
    "book": Profile(
        name="book",
        tuning="book",
        description="the published book on a 2-core CPU in about half an hour: four regions "
                    "32 x 32, small models, 8 epochs of 2,048 windows, three seeds",
        regions=REGIONS,
        size=32,
        seeds=(0, 1, 2),
        # Sized so that gler reproduce runs every chapter on a shared 2-core CPU in about
        # 30 minutes (GLER, seven neural baselines x 3 seeds and six ablations x 1 seed per
        # region); one thread, as for smoke.
        train=TrainConfig(epochs=8, batch_size=256, lr=3e-3, weight_decay=0.01, patience=3,
                          pixel_fraction=0.25, max_samples_per_epoch=2048,
                          max_val_samples=2048, num_threads=1),
        gler_overrides={"d_model": 24, "n_heads": 2, "dense_dim": 12, "conv_dim": 12,
                        "gru_hidden": 24, "dropout": 0.05},
        baseline_overrides={"hidden": 24, "num_layers": 1, "n_heads": 2, "dropout": 0.05},
        compare=True,
    ),
    "paper": Profile(
        name="paper",
        tuning="paper",
        description="the full experiment: four regions 128 x 128, default model sizes, every "
                    "neural baseline, five seeds (meant for a GPU)",
        regions=REGIONS,
        size=128,
        seeds=(0, 1, 2, 3, 4),
        train=TrainConfig(epochs=60, batch_size=512, lr=2e-3, weight_decay=0.01, patience=8,
                          pixel_fraction=0.25, max_samples_per_epoch=200_000,
                          max_val_samples=50_000),
        compare=True,
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called ``name``.

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.
    """
    if name not in PROFILES:
        msg = f"Unknown profile {name!r}. Available: {', '.join(PROFILES)}."
        raise ValueError(msg)
    return PROFILES[name]


def list_profiles() -> list[str]:
    """Names of the profiles."""
    return list(PROFILES)
