"""DLinear baseline (Zeng et al. 2023): trend/seasonal decomposition and two linear maps."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torch.nn import functional as F

from gler.models._registry import register_model
from gler.models.base import Forecaster
from gler.models.config import BaselineConfig


class DLinear(Forecaster):
    """Split every input channel into a moving-average trend and a remainder, map each part
    linearly to the H future values, and add the two.

    Zeng et al. forecast each channel from its own past; here the target is the SD series
    only, so the two linear maps read all channels (SD, mask and factors when used) and
    output the SD horizon. With SD alone this is the original model plus a mask channel.

    Parameters
    ----------
    config
        ``moving_avg`` (odd kernel of the trend filter, edges padded by repetition as in the
        reference code) is used.

    References
    ----------
    Zeng A., Chen M., Zhang L., Xu Q. (2023). Are transformers effective for time series
    forecasting? AAAI 37, 11121–11128.

    Shapes
    ------
    - sd: ``[B, L]``; ef: ``[B, L, E]`` or None; mask: ``[B, L]`` bool or None
    - out: ``[B, H]``
    """

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config, uses_ef=config.n_ef > 0)
        self.moving_avg = config.moving_avg
        self.trend = nn.Linear(self.in_chans * config.window, self.n_outputs)
        self.seasonal = nn.Linear(self.in_chans * config.window, self.n_outputs)

    def forward(self, sd: Tensor, ef: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        x = self.channels(sd, ef, mask).transpose(1, 2)  # [B, C, L]
        half = self.moving_avg // 2
        trend = F.avg_pool1d(F.pad(x, (half, half), mode="replicate"), self.moving_avg, stride=1)
        return self.trend(trend.flatten(1)) + self.seasonal((x - trend).flatten(1))


@register_model("dlinear", kind="neural", uses_ef=True, family="linear",
                tags=("baseline",),
                description="DLinear (Zeng et al. 2023): decomposition plus two linear maps")
def dlinear(*, window: int, horizon: int, n_ef: int, **overrides: Any) -> DLinear:
    """DLinear; fields of :class:`BaselineConfig` as overrides."""
    return DLinear(BaselineConfig.create(window=window, horizon=horizon, n_ef=n_ef, **overrides))
