"""The peers' part of an experiment: neuralforecast's models fitted, tuned and cached beside
the runs of a profile (:class:`PeerForecasts`, a part of :class:`gler.experiment.Experiment`).

Layout under the experiment's cache::

    <profile>-<key>/tuned/             the peers' studies and peers.json, beside tuned.json
    <profile runs>/peers/<digest of the settings>/<peer>-<region>.nc   test-period forecasts
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import xarray as xr

from gler.config import digest
from gler.data.multistack import shared_factors
from gler.peers.models import PEERS, fit_peer, predict_peer, require_neuralforecast
from gler.tune import import_optuna, tune_peers


class PeerForecasts:
    """The peer methods of :class:`gler.experiment.Experiment`."""

    def peer_forecasts(self, region: str, peers: Sequence[str] = tuple(PEERS), *,
                       params: dict | None = None) -> dict[str, xr.Dataset]:
        """Test-period forecasts of neuralforecast's models on ``region``: each peer fitted once
        on the training periods of all the profile's regions (pooled: one global model, early
        stopping on their validation periods, seed 0) with the settings :meth:`tune_peers`
        chose when the profile tunes (neuralforecast's defaults otherwise) and ``params``
        over them (e.g. ``{"max_steps": 300}``). Cached per region and peer.

        Raises
        ------
        ImportError
            Without neuralforecast (``pip install "gler[peers]"``).
        """
        require_neuralforecast()
        chosen = (self.tune_peers(peers, params) if self.base_profile.tuning is not None
                  else {name: {} for name in peers})
        forecasts = {}
        for name in peers:
            settings = {**chosen[name], **(params or {})}
            folder = self.path / "peers" / digest(settings)
            path = folder / f"{name}-{region}.nc"
            if not path.is_file():
                stacks = [self.stack(r) for r in self.profile.regions]
                sample = self.profile.sample_spec(available=shared_factors(stacks))
                peer = fit_peer(stacks, name, sample=sample, params=settings)
                folder.mkdir(parents=True, exist_ok=True)
                for other in self.profile.regions:
                    forecast = predict_peer(peer, self.stack(other))
                    forecast.to_netcdf(folder / f"{name}-{other}.nc", engine="h5netcdf")
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                forecasts[name] = ds.load()
        return forecasts

    def tune_peers(self, peers: Sequence[str] = tuple(PEERS), fixed: dict | None = None,
                   ) -> dict[str, dict]:
        """The settings of neuralforecast's ``peers`` chosen with the budget, folds and seed
        of this profile's tuning (:func:`gler.tune.tune_peers`, ``fixed`` in every trial),
        tuned once and kept beside the models' tuned settings."""
        import_optuna().logging.set_verbosity(logging.WARNING)
        return tune_peers([self.stack(r) for r in self.base_profile.regions], peers,
                          self.tune(), out_dir=self.base_path / "tuned", fixed=fixed,
                          progress=self.progress)
