"""MCAR: multifactor cross-attention residual between SD features and environmental factors."""

from __future__ import annotations

from torch import Tensor, nn

from gler.layers.attention import Attention


class MCAR(nn.Module):
    """Multi-head cross-attention from SD features to embedded EF series, with a residual.

    Paper: Huo et al. (2024), GLER-BiGRUnet, IEEE JSTARS 17, 14848–14861, module "MCAR".

    **Stated** in the paper: multi-head cross-attention between the environmental-factor (EF)
    series and the SD features learns the long-range temporal dependence between them and
    yields an attention-weighted feature matrix; a residual connection keeps the SD features.

    **Our reconstruction**: queries come from the SD features, keys and values from the EF
    series embedded by one linear layer per time step; the attention output is added to the
    SD features and layer-normalised (post-norm): ``out = norm(sd + drop(attn(sd, ef)))``.
    Hence, with the attention branch zeroed (``attn.proj`` weights and bias at zero), MCAR
    returns ``norm(sd)``, the normalised SD features. Factors given once for the whole batch
    (``ef [1, L, E]``, a map at one issue date) are embedded, keyed and valued once.

    Parameters
    ----------
    d_model
        Width D of the SD features and of the EF embedding.
    n_ef
        Number of environmental factors E.
    n_heads
        Number of heads N; must divide ``d_model``.
    dropout
        Dropout on the attention weights and on the attention output.
    norm_layer
        Normalisation type applied after the residual add.

    Returns
    -------
    out, attn
        The fused features and, with ``need_weights=True``, the per-head attention weights
        (before dropout); otherwise None (the fused attention kernel runs).

    Shapes
    ------
    - sd: ``[B, L, D]``; ef: ``[B, L, E]`` or ``[1, L, E]`` (shared by the batch)
    - out: ``[B, L, D]``
    - attn: ``[B, N, L, L]`` per head; ``attn[b, n, i, j]`` is the weight that SD step ``i``
      gives to EF step ``j``; each row (last axis) sums to one.
    """

    def __init__(
        self,
        *,
        d_model: int = 32,
        n_ef: int = 5,
        n_heads: int = 4,
        dropout: float = 0.0,
        norm_layer: type[nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        if n_ef < 1:
            msg = f"MCAR needs at least one environmental factor; got n_ef={n_ef}."
            raise ValueError(msg)
        self.ef_embed = nn.Linear(n_ef, d_model)
        self.attn = Attention(d_model, n_heads=n_heads, attn_drop=dropout, proj_drop=dropout)
        self.norm = norm_layer(d_model)

    def forward(self, sd: Tensor, ef: Tensor, *,
                need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        fused, attn = self.attn(sd, self.ef_embed(ef), need_weights=need_weights)
        return self.norm(sd + fused), attn
