"""Fused CPU kernels: PyTorch's results, only for inference, and a clear fallback."""

from __future__ import annotations

import ctypes
import os
import shutil
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gler import kernels
from gler.layers import Attention
from gler.models import create_model, list_models

HAS_COMPILER = bool(os.environ.get("CC") or any(shutil.which(c) for c in ("cc", "gcc", "clang")))
pytestmark = pytest.mark.skipif(not HAS_COMPILER, reason="no C compiler to build the kernels")


@pytest.fixture
def threads():
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch", [1, 13, 64])
def test_gru_matches_torch(layers: int, bidirectional: bool, batch: int) -> None:
    torch.manual_seed(layers + 2 * bidirectional + batch)
    gru = nn.GRU(5, 7, num_layers=layers, bidirectional=bidirectional, batch_first=True).eval()
    x = torch.randn(batch, 11, 5) * 2
    with torch.no_grad():
        out, h_n = kernels.gru(gru, x)
        ref_out, ref_h = gru(x)
    assert out.shape == ref_out.shape and h_n.shape == ref_h.shape
    torch.testing.assert_close(out, ref_out, atol=2e-6, rtol=0)
    torch.testing.assert_close(h_n, ref_h, atol=2e-6, rtol=0)


def test_gru_without_bias_and_with_strided_input() -> None:
    torch.manual_seed(1)
    gru = nn.GRU(6, 4, bias=False, batch_first=True).eval()
    x = torch.randn(9, 6, 8).transpose(1, 2)  # [9, 8, 6], not contiguous
    with torch.no_grad():
        torch.testing.assert_close(kernels.gru(gru, x)[0], gru(x)[0], atol=2e-6, rtol=0)


@pytest.mark.parametrize(("heads", "head_dim", "lk"), [(4, 8, 30), (2, 3, 7)])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("batch", [1, 9, 33])
def test_attention_matches_sdpa(heads: int, head_dim: int, lk: int, shared: bool,
                                batch: int) -> None:
    torch.manual_seed(batch + lk)
    dim, lq = heads * head_dim, 30
    q = torch.randn(batch, lq, dim) * 4  # large logits: the softmax must subtract its maximum
    k, v = (torch.randn(1 if shared else batch, lk, dim) * 4 for _ in range(2))
    scale = head_dim**-0.5
    out = kernels.attention(q, k, v, n_heads=heads, scale=scale)

    def sdpa(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        q, k, v = (t.reshape(t.shape[0], t.shape[1], heads, head_dim).transpose(1, 2)
                   for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k.expand(batch, -1, -1, -1),
                                             v.expand(batch, -1, -1, -1), scale=scale)
        return out.transpose(1, 2).reshape(batch, lq, dim)

    exact = sdpa(q.double(), k.double(), v.double())
    torch_error = (sdpa(q, k, v).double() - exact).abs().max().item()
    # as accurate as PyTorch's float32 kernel (logits reach ~60 here: rounding shows)
    assert (out.double() - exact).abs().max().item() <= max(2 * torch_error, 1e-5)


def _inputs(model: nn.Module, batch: int) -> tuple[Tensor, Tensor | None, Tensor]:
    gen = torch.Generator().manual_seed(0)
    sd = torch.randn(batch, model.window, generator=gen).cumsum(1)
    ef = torch.randn(batch, model.window, model.n_ef, generator=gen) if model.uses_ef else None
    mask = torch.rand(batch, model.window, generator=gen) > 0.1
    return sd, ef, mask


@pytest.mark.parametrize("name", list_models("neural"))
def test_models_give_pytorch_forecasts_and_repeat_exactly(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, window=30, horizon=6, n_ef=3).eval()
    inputs = _inputs(model, 21)
    with torch.inference_mode():
        fused, again = model(*inputs), model(*inputs)
        with kernels.disabled():
            reference = model(*inputs)
    torch.testing.assert_close(fused, reference, atol=1e-5, rtol=1e-5)
    assert torch.equal(fused, again)


def test_thread_split_gives_identical_forecasts(threads) -> None:
    torch.manual_seed(0)
    model = create_model("gler", window=30, horizon=6, n_ef=3).eval()
    inputs = _inputs(model, 203)
    with torch.inference_mode():
        threads(1)
        one = model(*inputs)
        threads(2)
        two = model(*inputs)
    assert torch.equal(one, two)


def _attention_in_child(queue, q: Tensor) -> None:
    queue.put(kernels.attention(q, q, q, n_heads=4, scale=0.5).numpy())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_makes_its_own_thread_pool(threads) -> None:
    """The parent's pool threads do not exist in a forked child: the child starts its own
    instead of waiting forever. (Only the kernels run in the child: PyTorch's own OpenMP
    threads are not fork-safe once the parent has used them, a PyTorch limit.)"""
    import multiprocessing

    threads(2)
    q = torch.randn(64, 30, 32)
    expected = kernels.attention(q, q, q, n_heads=4, scale=0.5)  # creates the parent's pool
    assert kernels._pools
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_attention_in_child, args=(queue, q))
    child.start()
    try:
        got = queue.get(timeout=60)  # before join: the result is larger than a pipe's buffer
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0 and torch.equal(torch.from_numpy(got), expected)


def test_kernels_run_only_for_inference(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = kernels.attention

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(kernels, "attention", counting)
    attn = Attention(8, n_heads=2, attn_drop=0.5).eval()
    x = torch.randn(3, 5, 8)
    out, _ = attn(x)  # autograd on: PyTorch
    assert out.requires_grad and not calls
    with torch.no_grad():
        attn.train()
        attn(x)  # training (dropout): PyTorch
        assert not calls
        attn.eval()
        attn(x)
    assert calls == [1]
    assert not kernels.active(torch.zeros(2, dtype=torch.float64).requires_grad_(False))


def test_the_interface_is_read_from_the_c_definitions() -> None:
    """LANES and the parameters of each exported (non-static) function, in their C order."""
    source = """#define LANES 4
static inline int helper(int a) { return a; }
int scale_rows(const float *x, int64_t B,
               float factor, int width, float *out) {
"""
    lanes, exports = kernels._read_interface(source)
    assert lanes == 4
    assert exports == {"scale_rows": (("x", ctypes.c_void_p), ("B", ctypes.c_int64),
                                      ("factor", ctypes.c_float), ("width", ctypes.c_int),
                                      ("out", ctypes.c_void_p))}
    with pytest.raises(TypeError, match=r"f\(y\) has the C type 'double'"):
        kernels._read_interface("#define LANES 8\nint f(double y) {")
    assert set(kernels._EXPORTS) == {"gru_direction", "attention"}


def test_a_kernel_call_names_every_argument() -> None:
    """A missing, extra or misspelt argument, or a tensor C cannot read, never reaches C."""
    attention = kernels._lib()["attention"]
    q = torch.randn(1, 2, 4)
    arguments = {"q": q, "k": q, "v": q, "out": torch.empty_like(q), "B": 1, "Lq": 2, "Lk": 2,
                 "N": 2, "d": 2, "scale": 1.0, "kv_batch_stride": 8}
    assert attention(**arguments) == 0
    torch.testing.assert_close(arguments["out"], kernels.attention(q, q, q, n_heads=2, scale=1.0))
    misspelt = {**arguments, "scal": arguments.pop("scale")}
    with pytest.raises(TypeError, match=r"attention\(\) takes the arguments \['q', 'k'"):
        attention(**misspelt)
    strided = torch.randn(1, 4, 2).transpose(1, 2)
    with pytest.raises(TypeError, match="k must be a contiguous float32 tensor"):
        attention(**{**arguments, "scale": 1.0, "k": strided})


def test_switched_off_by_environment_or_context(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.zeros(2)
    with torch.no_grad():
        assert kernels.active(x)
        with kernels.disabled():
            assert not kernels.active(x)
        monkeypatch.setenv(kernels.ENV_SWITCH, "0")
        assert not kernels.active(x)


def test_a_library_that_cannot_be_loaded_is_a_build_failure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path: str) -> None:
        msg = f"{path}: failed to map segment from shared object"
        raise OSError(msg)

    monkeypatch.setattr(kernels.ctypes, "CDLL", refuse)
    with pytest.raises(RuntimeError, match=r"cannot load the compiled kernels.*failed to map"):
        kernels._build()


def test_without_a_compiler_warns_once_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "_library", [])
    monkeypatch.setenv("CC", "/nonexistent/cc")
    model = create_model("gler", window=30, horizon=6, n_ef=3).eval()
    inputs = _inputs(model, 5)
    with torch.no_grad():
        with pytest.warns(RuntimeWarning, match=r"could not be built: cannot run the C compiler "
                                                r"'/nonexistent/cc'.*Install gcc or clang"):
            out = model(*inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = model(*inputs)  # warned once only
        assert torch.equal(out, again)
        with kernels.disabled():
            torch.testing.assert_close(out, model(*inputs), atol=0, rtol=0)
        assert not kernels.available()
    with pytest.raises(RuntimeError, match="needs the built kernels"):
        kernels.attention(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4), torch.zeros(1, 2, 4),
                          n_heads=2, scale=1.0)
