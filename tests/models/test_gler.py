"""GLER-BiGRUnet: wiring, attention maps, ablations, documented cost, compile and autocast."""

from __future__ import annotations

import pytest
import torch

from gler.models import GLERBiGRUNet, GLERConfig, count_flops, count_parameters, create_model

B, L, H, E = 2, 12, 3, 2
SMALL = {"d_model": 8, "n_heads": 2, "dense_dim": 4, "conv_dim": 4, "gru_hidden": 8}


def small(name: str = "gler", n_ef: int = E, **overrides) -> GLERBiGRUNet:
    torch.manual_seed(0)
    return create_model(name, window=L, horizon=H, n_ef=n_ef, **{**SMALL, **overrides}).eval()


def inputs():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(B, L, generator=g), torch.randn(B, L, E, generator=g),
            torch.rand(B, L, generator=g) > 0.2)


def test_documented_size_and_cost():
    """The parameter and FLOP counts written in the GLERBiGRUNet docstring are measured ones."""
    for n_ef, params, flops in ((0, 26_822, 1_602_048), (5, 31_206, 1_972_608)):
        model = create_model("gler", n_ef=n_ef)
        assert count_parameters(model) == params
        assert count_flops(model) == flops
        assert f"{params:,}" in GLERBiGRUNet.__doc__ and f"{flops:,}" in GLERBiGRUNet.__doc__
    shared = count_flops(create_model("gler", n_ef=5), batch=1024, shared_factors=True)
    assert int(shared) == 1_840_257 and f"{int(shared):,}" in GLERBiGRUNet.__doc__


def test_stable_submodule_names_and_encode_head_split():
    """glfe/mcar/rcsa/bigru/head exist; head(encode(x)) is forward(x)."""
    model = small()
    assert {"glfe", "mcar", "rcsa", "bigru", "head"} <= {n for n, _ in model.named_children()}
    sd, ef, mask = inputs()
    z = model.encode(sd, ef, mask)
    assert z.shape == (B, L, 2 * SMALL["gru_hidden"])
    torch.testing.assert_close(model.head(z), model(sd, ef, mask))


def test_forward_with_attention():
    """The named tuple holds the forecast and [B, N, L, L] MCAR/RCSA maps with unit rows."""
    model = small()
    sd, ef, mask = inputs()
    out = model.forward_with_attention(sd, ef, mask)
    torch.testing.assert_close(out.forecast, model(sd, ef, mask))
    for attn in (out.mcar_attn, out.rcsa_attn):
        assert attn.shape == (B, SMALL["n_heads"], L, L)
        torch.testing.assert_close(attn.sum(-1), torch.ones(B, SMALL["n_heads"], L))


@pytest.mark.parametrize(("name", "n_ef", "mcar", "rcsa"), [
    ("gler-no-mcar", E, False, True), ("gler", 0, False, True), ("gler-no-rcsa", E, True, False),
    ("gler-concat-ef", E, False, True),
])
def test_disabled_modules_give_no_attention(name, n_ef, mcar, rcsa):
    """A disabled (or factor-less) module is absent and its map is None."""
    model = small(name, n_ef=n_ef)
    sd, ef, mask = inputs()
    out = model.forward_with_attention(sd, ef[..., :n_ef] if n_ef else None, mask)
    assert (out.mcar_attn is not None, out.rcsa_attn is not None) == (mcar, rcsa)
    assert (model.mcar is not None, model.rcsa is not None) == (mcar, rcsa)


def test_ablation_switches_change_the_architecture():
    """Each ablation name sets its switch and the modules follow it."""
    assert list(small("gler-no-dense").glfe.branches) == ["conv"]
    assert list(small("gler-no-conv").glfe.branches) == ["dense"]
    assert not small("gler-gru").bigru.bidirectional
    concat = small("gler-concat-ef")
    assert concat.proj.in_features == concat.glfe.out_dim + E
    no_mcar = small("gler-no-mcar")
    assert not no_mcar.uses_ef and no_mcar.config.ef_mode == "none"


def test_factors_matter_only_when_used():
    """The factors change GLER's forecast, and are ignored by gler-no-mcar."""
    sd, ef, mask = inputs()
    for name, matters in (("gler", True), ("gler-concat-ef", True), ("gler-no-mcar", False)):
        model = small(name)
        same = torch.equal(model(sd, ef, mask), model(sd, ef + 1.0, mask))
        assert same is not matters, name


def test_mismatched_window_names_both():
    """A series of the wrong length raises with the received shape and the window."""
    model = small()
    sd, ef, mask = inputs()
    with pytest.raises(ValueError, match=rf"sd has shape \(2, 10\).*window = {L}"):
        model(sd[:, :10], ef[:, :10], mask[:, :10])
    with pytest.raises(ValueError, match=rf"ef has shape \(2, {L}, 1\).*n_ef={E}"):
        model(sd, ef[..., :1], mask)


def test_config_of_model_round_trips():
    """model.config rebuilds an identical model from JSON (same seed, same weights)."""
    model = small("gler-gru")
    config = GLERConfig.from_json(model.config.to_json())
    torch.manual_seed(0)
    rebuilt = GLERBiGRUNet(config).eval()
    sd, ef, mask = inputs()
    torch.testing.assert_close(rebuilt(sd, ef, mask), model(sd, ef, mask), rtol=0, atol=0)


@pytest.mark.slow  # about 6 s: mostly dynamo start-up
def test_torch_compile_matches_eager():
    """torch.compile (eager backend: no C compiler needed) runs and matches the eager model."""
    model = small()
    sd, ef, mask = inputs()
    compiled = torch.compile(model, backend="eager")
    torch.testing.assert_close(compiled(sd, ef, mask), model(sd, ef, mask))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bf16_autocast_matches_float32():
    """Forward and backward under bf16 autocast on CUDA stay close to float32.

    cuDNN's RNN backward runs only in training mode: the model trains with dropout off, so
    that both passes compute the same deterministic function."""
    torch.manual_seed(0)
    model = create_model("gler", n_ef=5, dropout=0.0).cuda().train()
    sd, ef = torch.randn(64, 30, device="cuda"), torch.randn(64, 30, 5, device="cuda")
    mask = torch.rand(64, 30, device="cuda") > 0.1
    ref = model(sd, ef, mask)
    ref.square().mean().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = model(sd, ef, mask)
    assert out.dtype == torch.bfloat16
    out.float().square().mean().backward()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05)
    for p, g in zip(model.parameters(), ref_grads, strict=True):
        assert torch.isfinite(p.grad).all()
        assert torch.linalg.vector_norm(p.grad - g) <= 0.1 * torch.linalg.vector_norm(g) + 1e-3


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_shared_factor_window_matches_repeated():
    """On CUDA (bf16 autocast) one factor window for the batch gives the repeated window's
    forecast: the fused kernel's long query sequence is the same attention."""
    torch.manual_seed(0)
    model = create_model("gler", n_ef=5).cuda().eval()
    sd, ef = torch.randn(4096, 30, device="cuda"), torch.randn(1, 30, 5, device="cuda")
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        shared = model(sd, ef).float()
        repeated = model(sd, ef.expand(4096, -1, -1).contiguous()).float()
    torch.testing.assert_close(shared, repeated, rtol=0.02, atol=0.02)
