"""GRU: nn.GRU's parameters and outputs, the fused kernel for CPU inference, PyTorch otherwise."""

from __future__ import annotations

from unittest.mock import Mock

import pytest
import torch
from torch import nn

from gler import kernels
from gler.layers import GRU
from gler.models import create_model

B, L, D, H = 13, 11, 5, 7


@pytest.fixture
def built() -> None:
    """Skips a test that needs the kernels where they cannot be built (no C compiler)."""
    if not kernels.available():
        pytest.skip("the kernels cannot be built here")


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Mock:
    """The fused GRU kernel, recording its calls."""
    spy = Mock(wraps=kernels.gru)
    monkeypatch.setattr(kernels, "gru", spy)
    return spy


def build(*, layers: int = 1, bidirectional: bool = False) -> GRU:
    torch.manual_seed(layers + 2 * bidirectional)
    return GRU(D, H, num_layers=layers, bidirectional=bidirectional, batch_first=True)


@pytest.mark.usefixtures("built")
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_eval_inference_runs_the_kernel_with_pytorchs_result(
        layers: int, bidirectional: bool, kernel: Mock) -> None:
    """Eval mode, autograd off: the kernel's output and final states match nn.GRU's."""
    gru = build(layers=layers, bidirectional=bidirectional).eval()
    x = torch.randn(B, L, D) * 2
    with torch.no_grad():
        out, h_n = gru(x)
        ref_out, ref_h = nn.GRU.forward(gru, x)
    assert kernel.call_count == 1
    assert out.shape == (B, L, H * (1 + bidirectional))
    torch.testing.assert_close(out, ref_out, atol=2e-6, rtol=0)
    torch.testing.assert_close(h_n, ref_h, atol=2e-6, rtol=0)


def test_training_uses_pytorch_and_has_gradients(kernel: Mock) -> None:
    gru = build(layers=2, bidirectional=True).train()
    out, _ = gru(torch.randn(B, L, D))
    out.sum().backward()
    kernel.assert_not_called()
    assert gru.weight_hh_l1_reverse.grad is not None
    with torch.no_grad():
        gru.eval()(torch.randn(B, L, D), torch.zeros(4, B, H))  # an initial state: PyTorch
    kernel.assert_not_called()


def test_kernels_disabled_gives_pytorchs_output(kernel: Mock) -> None:
    gru = build(bidirectional=True).eval()
    x = torch.randn(B, L, D)
    with torch.no_grad(), kernels.disabled():
        out, h_n = gru(x)
        ref_out, ref_h = nn.GRU.forward(gru, x)
    kernel.assert_not_called()
    assert torch.equal(out, ref_out) and torch.equal(h_n, ref_h)


@pytest.mark.usefixtures("built")
def test_forward_hooks_see_the_kernels_output(kernel: Mock) -> None:
    """gler.inspect records the BiGRU's output with a hook: the module is called either way."""
    gru = build().eval()
    seen = []
    gru.register_forward_hook(lambda _m, _i, out: seen.append(out[0].shape))
    with torch.no_grad():
        gru(torch.randn(2, L, D))
    assert kernel.call_count == 1 and seen == [torch.Size([2, L, H])]


def test_same_parameters_as_nn_gru() -> None:
    """Same seed, same initial weights under the same state_dict keys."""
    torch.manual_seed(0)
    gru = GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)
    torch.manual_seed(0)
    plain = nn.GRU(D, H, num_layers=2, bidirectional=True, batch_first=True)
    assert gru.state_dict().keys() == plain.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(gru.state_dict().values(),
                                                 plain.state_dict().values(), strict=True))


@pytest.mark.parametrize(("name", "attribute"), [("gler", "bigru"), ("gler-gru", "bigru"),
                                                 ("gru", "rnn"), ("bigru", "rnn")])
def test_models_keep_the_state_dict_keys_of_nn_gru(name: str, attribute: str) -> None:
    """Checkpoints written when the models held a plain nn.GRU load unchanged."""
    model = create_model(name, window=12, horizon=4, n_ef=2)
    layer = getattr(model, attribute)
    assert isinstance(layer, GRU)
    plain = nn.GRU(layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
                   batch_first=True, bidirectional=layer.bidirectional)
    expected = {f"{attribute}.{key}": value.shape for key, value in plain.state_dict().items()}
    got = {key: value.shape for key, value in model.state_dict().items()
           if key.startswith(f"{attribute}.")}
    assert got == expected
    assert f"{attribute}.weight_ih_l0" in got
