"""Spatial transfer: a model trained on some QTR-sim regions, scored on another
(:class:`SpatialTransfer`, a part of :class:`gler.experiment.Experiment`).

Layout under the experiment's cache::

    transfer/to-<held out>-from-<regions>/<model>/seed<k>/   spatial transfer runs
    transfer/to-<held out>-from-<regions>/eval-<key>/        their evaluation
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from gler.evaluate import Evaluation
from gler.models._registry import model_info
from gler.profiles import REGIONS
from gler.tables import transfer_table


class SpatialTransfer:
    """The transfer methods of :class:`gler.experiment.Experiment`."""

    def transfer_regions(self, held_out: str, regions: Sequence[str] | None = None,
                         ) -> tuple[str, ...]:
        """The training regions of a transfer to ``held_out``: ``regions`` (default the four
        QTR-sim regions, :data:`gler.profiles.REGIONS`) without ``held_out``.

        Raises
        ------
        ValueError
            If no region is left to train on.
        """
        chosen = tuple(r for r in (regions or REGIONS) if r != held_out)
        if not chosen:
            msg = (f"No training region left for a transfer to {held_out!r} (regions: "
                   f"{list(regions or REGIONS)}). Name at least one other region.")
            raise ValueError(msg)
        return chosen

    def transfer_folder(self, held_out: str, regions: Sequence[str] | None = None) -> Path:
        """Where the transfer runs to ``held_out`` and their evaluation live."""
        sources = "+".join(self.transfer_regions(held_out, regions))
        return self.path / "transfer" / f"to-{held_out}-from-{sources}"

    def train_transfer(self, held_out: str, model: str = "gler", seed: int = 0, *,
                       regions: Sequence[str] | None = None) -> dict:
        """Train ``model`` on the other regions' stacks (or reuse the finished run).

        One model learns from windows of every training region (:func:`gler.train.train`
        with several stacks): the same split dates, the profile's pixel fraction in each
        region, normalisation from their training periods only. ``held_out`` is never read.

        Returns
        -------
        dict
            The summary of :meth:`train`, with ``held_out`` and ``train_regions`` instead of
            ``region``.
        """
        sources = self.transfer_regions(held_out, regions)
        run_dir = self.transfer_folder(held_out, regions) / model / f"seed{seed}"
        return self._train_once(run_dir, sources, model, seed,
                                {"held_out": held_out, "train_regions": list(sources)})

    def transfer(self, held_out: str, models: Sequence[str] = ("gler",),
                 seeds: Sequence[int] | None = None, *, regions: Sequence[str] | None = None,
                 ) -> Evaluation:
        """Evaluate ``models`` trained on the other regions on ``held_out``'s test split.

        The spatial-transfer experiment of ``evaluation.md`` (train on three regions, test on
        the fourth), scored by :func:`gler.evaluate.evaluate` on the same targets as
        :meth:`evaluate` scores the in-region runs; the classical baselines, fitted per window,
        are in the report too. Cached like :meth:`evaluate`.

        Example
        -------
        >>> exp = Experiment("book")  # doctest: +SKIP
        >>> exp.transfer("beiluhe").report["models"]["gler@seed0"]["rmse"]  # doctest: +SKIP
        """
        seeds = tuple(seeds if seeds is not None else self.profile.seeds)
        jobs = [(m, s) for m in models if model_info(m).kind == "neural" for s in seeds]
        folder = self.transfer_folder(held_out, regions)
        return self._evaluate_once(
            held_out, folder, [folder / m / f"seed{s}" for m, s in jobs],
            lambda: [self.train_transfer(held_out, m, s, regions=regions) for m, s in jobs],
            own_split=True)

    def transfer_table(self, held_out: Iterable[str] | None = None,
                       models: Sequence[str] = ("gler",), seeds: Sequence[int] | None = None,
                       *, regions: Sequence[str] | None = None, metric: str = "rmse",
                       ) -> pd.DataFrame:
        """:func:`gler.tables.transfer_table` of each held-out region (default: every region of
        ``regions``): the in-region runs (:meth:`evaluate`) next to the transfer runs
        (:meth:`transfer`), training what is missing.

        Example
        -------
        >>> Experiment("book").transfer_table(["beiluhe"])  # doctest: +SKIP
        """
        targets = list(held_out if held_out is not None else (regions or REGIONS))
        inside = {r: self.evaluate(r, models, seeds).report for r in targets}
        across = {r: self.transfer(r, models, seeds, regions=regions).report for r in targets}
        return transfer_table(inside, across, metric)
