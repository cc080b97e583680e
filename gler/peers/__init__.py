"""neuralforecast's models as peers in the comparison: what a user would pick instead of gler.

An optional extra (``pip install "gler[peers]"``): this package imports without neuralforecast,
which is imported when a peer is fitted, searched or asked to forecast.

- :mod:`gler.peers.frame`: stacks as neuralforecast's long frame, forecasts back in gler's layout.
- :mod:`gler.peers.models`: :func:`fit_peer` (NHITS, TiDE) on gler's split, :func:`predict_peer`
  at gler's issue dates, for :func:`gler.evaluate.evaluate`'s ``forecasts``.
- :mod:`gler.peers.tune`: :func:`tune_peer`, the Auto* search space with gler's trials and folds.

Example
-------
>>> from gler.peers import fit_peer, predict_peer  # doctest: +SKIP
>>> peer = fit_peer(stack, "tide", sample=SampleSpec(factors=DRIVER_FACTORS))  # doctest: +SKIP
>>> evaluate([], stack, forecasts={"tide": predict_peer(peer, stack)})  # doctest: +SKIP
"""

from gler.peers.frame import peer_frame
from gler.peers.models import PEERS, PeerModel, fit_peer, predict_peer, require_neuralforecast
from gler.peers.tune import PeerTuning, search_space, tune_peer

__all__ = ["PEERS", "PeerModel", "PeerTuning", "fit_peer", "peer_frame", "predict_peer",
           "require_neuralforecast", "search_space", "tune_peer"]
