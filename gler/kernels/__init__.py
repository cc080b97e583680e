"""Fused CPU inference kernels: GRU layers and small multi-head attention.

PyTorch runs GLER's recurrence and its 30 x 30 attentions as many small operations over the
whole batch, each a pass through memory; on one CPU core they took 70 % of the forward
(``benchmarks/NOTES.md``). ``lanes.c`` computes each in one pass, eight pixels per vector, and
keeps a pixel's work in the L1 cache. It is compiled on first use with the system C compiler
(``$CC``, else ``cc``, ``gcc`` or ``clang``; well under a second) into a temporary file and
loaded with :mod:`ctypes`; nothing is cached on disk. Without a compiler gler warns once and
keeps PyTorch's path, which gives the same forecasts more slowly.

The kernels run only for inference: float32 CPU tensors with autograd off (``torch.no_grad``
or ``torch.inference_mode``) and modules in eval mode. Training, CUDA, autocast and anything
needing gradients use PyTorch. Outputs agree with PyTorch to about 1e-6 (a polynomial
``exp``); fixed inputs give identical outputs on every run. Set the environment variable
``GLER_KERNELS=0``, or use :func:`disabled`, to use PyTorch everywhere.

The layers call them (:class:`gler.layers.GRU`, :class:`gler.layers.Attention`); the
exported C functions' parameters are read from their definitions in ``lanes.c``, so every call
names its arguments and a changed C signature needs no edit here.

>>> import torch
>>> from gler import kernels
>>> gru = torch.nn.GRU(4, 8, batch_first=True).eval()
>>> x = torch.randn(3, 5, 4)
>>> with torch.no_grad():
...     fused = kernels.gru(gru, x)[0]
...     reference = gru(x)[0]
>>> torch.allclose(fused, reference, atol=1e-5)
True
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["ENV_SWITCH", "active", "attention", "available", "disabled", "gru"]

#: Environment variable; ``0`` turns the kernels off.
ENV_SWITCH = "GLER_KERNELS"
_SOURCE = resources.files("gler.kernels") / "lanes.c"

# The C parameter types an exported function may take; a pointer takes a tensor's data.
_POINTER = ctypes.c_void_p
_CTYPES = {"const float *": _POINTER, "float *": _POINTER, "int": ctypes.c_int,
           "int64_t": ctypes.c_int64, "float": ctypes.c_float}
# In lanes.c an exported function is a non-static definition ``int name(...)`` starting a line.
_EXPORTED = re.compile(r"^int (\w+)\(([^)]*)\)", re.MULTILINE)
_PARAMETER = re.compile(r"\s*(.*?)\s*(\w+)\s*")  # C type, name
_LANES = re.compile(r"^#define LANES (\d+)$", re.MULTILINE)

# (name, ctype) of a C function's parameters, in order.
_Parameters = tuple[tuple[str, type], ...]


def _read_interface(source: str) -> tuple[int, dict[str, _Parameters]]:
    """``LANES`` and the parameters of each exported function, read from the C source."""
    exports = {}
    for function, parameter_list in _EXPORTED.findall(source):
        parameters = []
        for parameter in parameter_list.split(","):
            c_type, name = _PARAMETER.fullmatch(parameter).groups()
            c_type = " ".join(c_type.replace("*", " *").split())
            if c_type not in _CTYPES:
                msg = f"lanes.c: {function}({name}) has the C type {c_type!r}, not one of {_CTYPES}"
                raise TypeError(msg)
            parameters.append((name, _CTYPES[c_type]))
        exports[function] = tuple(parameters)
    return int(_LANES.search(source)[1]), exports


#: Samples per vector (``LANES`` in ``lanes.c``); work is split between threads in multiples of it.
LANES, _EXPORTS = _read_interface(_SOURCE.read_text())


class _CFunction:
    """An exported C function, called with one keyword argument per C parameter: a contiguous
    float32 tensor for a pointer (passed by address), a number otherwise."""

    def __init__(self, library: ctypes.CDLL, name: str, parameters: _Parameters) -> None:
        self.name, self.parameters = name, parameters
        self._function = getattr(library, name)
        self._function.argtypes = [ctype for _, ctype in parameters]
        self._function.restype = ctypes.c_int

    def __call__(self, **arguments: Tensor | float) -> int:
        """The C function's status: 0, or -1 if it could not allocate its work buffers."""
        names = [name for name, _ in self.parameters]
        if arguments.keys() != set(names):
            msg = f"{self.name}() takes the arguments {names}; got {sorted(arguments)}."
            raise TypeError(msg)
        values = []
        for name, ctype in self.parameters:
            value = arguments[name]
            if ctype is _POINTER:
                if not (isinstance(value, Tensor) and value.dtype == torch.float32
                        and value.is_contiguous()):
                    msg = f"{self.name}(): {name} must be a contiguous float32 tensor."
                    raise TypeError(msg)
                value = value.data_ptr()
            values.append(value)
        return self._function(*values)


_enabled: ContextVar[bool] = ContextVar("gler_kernels_enabled", default=True)
_lock = threading.Lock()
_library: list[dict[str, _CFunction] | None] = []  # empty until the first build attempt
_pools: dict[int, ThreadPoolExecutor] = {}  # by thread count


def _reset_after_fork() -> None:
    """A forked child has none of its parent's pool threads (and maybe a held lock): start
    afresh, keeping the loaded library."""
    global _lock
    _lock = threading.Lock()
    _pools.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _compiler() -> str:
    compiler = os.environ.get("CC") or next(
        (c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
    if compiler is None:
        msg = "no C compiler found (none of cc, gcc, clang on PATH, and CC is not set)"
        raise RuntimeError(msg)
    return compiler


def _build() -> dict[str, _CFunction]:
    """Compile ``lanes.c`` for this CPU (portable flags if ``-march=native`` is refused) and
    bind its exported functions by name."""
    compiler = _compiler()
    with (resources.as_file(_SOURCE) as src,
          tempfile.TemporaryDirectory(prefix="gler-kernels-", ignore_cleanup_errors=True) as tmp):
        target = Path(tmp) / "lanes.so"
        error = ""
        for arch in (["-march=native"], []):
            cmd = [compiler, "-O3", "-std=gnu11", *arch, "-shared", "-fPIC", str(src),
                   "-o", str(target)]
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            except OSError as err:
                msg = f"cannot run the C compiler {compiler!r}: {err}"
                raise RuntimeError(msg) from err
            if done.returncode == 0:
                try:  # stays loaded after the file is removed
                    library = ctypes.CDLL(str(target))
                except OSError as err:  # e.g. a temporary directory mounted noexec
                    msg = f"cannot load the compiled kernels from {tmp}: {err}"
                    raise RuntimeError(msg) from err
                return {name: _CFunction(library, name, parameters)
                        for name, parameters in _EXPORTS.items()}
            error = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    msg = f"{compiler} failed on {src.name}: {error}"
    raise RuntimeError(msg)


def _lib() -> dict[str, _CFunction] | None:
    """The compiled kernels, building them on first use; None (after one warning) if that fails."""
    if not _library:
        with _lock:
            if not _library:
                try:
                    _library.append(_build())
                except RuntimeError as err:
                    _library.append(None)
                    warnings.warn(
                        f"gler's fused CPU kernels could not be built: {err}. CPU forecasts "
                        f"use PyTorch's operations instead (same results, slower). Install "
                        f"gcc or clang (or set CC), or set {ENV_SWITCH}=0 to silence this.",
                        RuntimeWarning, stacklevel=4)
    return _library[0]


def available() -> bool:
    """Whether the kernels are built (building them now if needed)."""
    return _lib() is not None


@contextmanager
def disabled() -> Iterator[None]:
    """Use PyTorch's operations inside this block (this thread or task only)."""
    token = _enabled.set(False)
    try:
        yield
    finally:
        _enabled.reset(token)


def active(x: Tensor) -> bool:
    """Whether the kernels run for ``x``: float32 on CPU, autograd off, not switched off."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_grad_enabled()
            and _enabled.get() and os.environ.get(ENV_SWITCH, "1") != "0"
            and _lib() is not None)


def _parallel(function: _CFunction, batched: dict[str, Tensor], **common: Tensor | float) -> None:
    """Call ``function`` on parts of the batch, split between ``torch.get_num_threads()``
    threads (ctypes releases the GIL) in whole vectors of samples: each part gets its rows of the
    ``batched`` tensors and their number ``B``, and all of ``common``. Raise if a part could not
    allocate its work buffers."""
    batch = next(iter(batched.values())).shape[0]
    blocks = -(-batch // LANES)
    parts = max(1, min(torch.get_num_threads(), blocks))
    bounds = [min(batch, LANES * (blocks * i // parts)) for i in range(parts + 1)]

    def run(span: tuple[int, int]) -> int:
        a, b = span
        return function(B=b - a, **{name: t[a:b] for name, t in batched.items()}, **common)

    spans = list(itertools.pairwise(bounds))
    if parts == 1:
        status = [run(spans[0])]
    else:
        with _lock:
            pool = _pools.setdefault(parts, ThreadPoolExecutor(parts, "gler-kernels"))
        status = list(pool.map(run, spans))
    if any(status):
        msg = "gler kernels could not allocate their work buffers; use a smaller batch."
        raise MemoryError(msg)


def gru(rnn: nn.GRU, x: Tensor) -> tuple[Tensor, Tensor]:
    """``rnn(x)`` for a batch-first GRU with zero initial state (eval mode: no dropout).

    Shapes
    ------
    - x: ``[B, L, D]``
    - returns ``(out [B, L, dirs * H], h_n [layers * dirs, B, H])`` as :class:`torch.nn.GRU`.
    """
    library = _lib()
    if library is None or not rnn.batch_first:
        msg = "gler.kernels.gru needs the built kernels and a batch_first GRU."
        raise RuntimeError(msg)
    B, L, _ = x.shape
    dirs, H = 1 + rnn.bidirectional, rnn.hidden_size
    h_n = x.new_empty(rnn.num_layers * dirs, B, H)
    for layer in range(rnn.num_layers):
        x = x.contiguous()
        out = x.new_empty(B, L, dirs * H)
        for d in range(dirs):
            suffix = f"_l{layer}" + "_reverse" * d
            weights = {f"w_{n}": getattr(rnn, f"weight_{n}{suffix}").detach().contiguous()
                       for n in ("ih", "hh")}
            biases = {f"b_{n}": (getattr(rnn, f"bias_{n}{suffix}").detach().contiguous()
                                 if rnn.bias else x.new_zeros(3 * H)) for n in ("ih", "hh")}
            _parallel(library["gru_direction"], {"x": x, "out": out, "hn": h_n[layer * dirs + d]},
                      L=L, D=x.shape[2], **weights, **biases, H=H, reverse=d,
                      out_width=dirs * H, out_offset=d * H)
        x = out
    return x, h_n


def attention(q: Tensor, k: Tensor, v: Tensor, *, n_heads: int, scale: float) -> Tensor:
    """``softmax(q_h k_h^T * scale) v_h`` for each of ``n_heads`` heads, heads side by side.

    Shapes
    ------
    - q: ``[B, Lq, D]``; k, v: ``[B, Lk, D]`` or ``[1, Lk, D]`` (shared by the batch)
    - returns ``[B, Lq, D]``
    """
    library = _lib()
    if library is None:
        msg = "gler.kernels.attention needs the built kernels; see gler.kernels.available()."
        raise RuntimeError(msg)
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    _, Lq, D = q.shape
    Lk = k.shape[1]
    shared = k.shape[0] == 1
    out = torch.empty_like(q)
    per_sample, keys_values = {"q": q, "out": out}, {"k": k, "v": v}
    batched, common = (per_sample, keys_values) if shared else ({**per_sample, **keys_values}, {})
    _parallel(library["attention"], batched, **common, Lq=Lq, Lk=Lk, N=n_heads, d=D // n_heads,
              scale=scale, kv_batch_stride=0 if shared else Lk * D)
    return out
