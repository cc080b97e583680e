"""The benchmark script runs end to end in its tiny configuration and writes complete JSON."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from gler import kernels
from gler.forecast import STAGES

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gler_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_tiny_benchmark_writes_every_figure(bench, tmp_path, capsys):
    out = tmp_path / "results.json"
    assert bench.main(["--tiny", "--device", "cpu", "--models", "gler", "dlinear",
                       "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "matmul peak" in printed and "harmonic" in printed
    results = json.loads(out.read_text())
    assert results["config"] == "tiny"
    machine = results["machine"]
    assert machine["cpu"] and _positive(machine["cores"]) and _positive(machine["torch_threads"])
    assert machine["torch"]
    cpu = results["devices"]["cpu"]
    assert _positive(cpu["peak"]["flops"])
    assert set(cpu["train"]) == {"gler", "dlinear"}
    assert all(_positive(v["windows_per_s"]) for v in cpu["train"].values())
    forecast = cpu["forecast"]
    assert _positive(forecast["flops_per_pixel"])
    variants = ["eager", "pytorch"] if kernels.available() else ["eager"]
    assert [(s["variant"], s["factors"], s["batch"]) for s in forecast["sweep"]] == [
        (v, f, b) for v in variants for f in ("per-pixel", "shared") for b in (128, 256)]
    for entry in forecast["sweep"]:
        assert _positive(entry["pixels_per_s"]) and _positive(entry["flops_per_s"])
        assert 0 < entry["peak_fraction"] < 10
        assert entry["flops_per_s"] == pytest.approx(entry["pixels_per_s"]
                                                     * entry["flops_per_pixel"])
        full = entry["flops_per_pixel"] == forecast["flops_per_pixel"]
        assert full == (entry["factors"] == "per-pixel")
    assert _positive(cpu["predict"]["pixels_per_s"])
    stages = cpu["predict"]["stages_s"]
    assert tuple(stages) == STAGES and _positive(stages["forward"])
    assert all(v >= 0 for v in stages.values()) and "stages (s, synchronised)" in printed
    scores = cpu["scores"]
    assert scores["shape"] == [27, 6, 32 * 32] and 0.9 < scores["targets"] / (27 * 6 * 1024) < 1
    for name in ("split_conformal", "quantiles"):
        assert scores[name]["targets_per_s"] == pytest.approx(
            scores["targets"] / scores[name]["seconds"])
    assert f"probabilistic scores of {scores['targets']:,} targets" in printed
    classical = results["classical"]
    assert classical["dates"] == 180
    assert {"harmonic", "persistence", "seasonal-naive", "stefan"} <= set(classical["models"])
    for entry in classical["models"].values():
        assert _positive(entry["complete"]["seconds"]) and _positive(entry["gaps_2pct"]["seconds"])
    assert _positive(results["wall_s"])


def test_shared_factor_flops_are_the_counted_ones(bench):
    """The per-pixel FLOPs with a shared factor window, derived from counts at batch 1 and 2,
    equal FlopCounterMode's count at the batch itself."""
    from gler.models import count_flops, create_model

    model = create_model("gler", n_ef=3).eval()
    for batch in (3, 64):
        derived = bench.flops_per_pixel(model, batch, shared_factors=True)
        assert derived == pytest.approx(count_flops(model, batch=batch, shared_factors=True))
        assert derived < count_flops(model)


def test_side_by_side_timing_alternates_the_functions(bench):
    import torch

    calls = []
    result = bench.timed_side_by_side({"a": lambda: calls.append("a"),
                                       "b": lambda: calls.append("b")},
                                      device=torch.device("cpu"), repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert set(result) == {"a", "b"}
    assert all(0 <= r["best_s"] <= r["median_s"] for r in result.values())


@pytest.mark.cuda
def test_graph_comparison_times_the_eager_step_and_the_graphed_one_on_cuda(bench):
    """Per model and batch: the eager rate, and on CUDA the graphed one, their ratio and
    whether the step was captured (runs on CPU too, eager only)."""
    import torch

    from gler.data.synthetic import synthetic_stack

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    results = bench.train_graphs(synthetic_stack(ny=8, nx=8, nt=120), device,
                                 models=("gler", "dlinear"), batches=(32,),
                                 steps=6 if cuda else 2, repeats=1)
    assert set(results) == {"gler", "dlinear"}
    for per_batch in results.values():
        entry = per_batch["32"]
        assert _positive(entry["eager"])
        assert ({"graphs", "speedup", "captured"} <= set(entry)) is cuda
        assert entry.get("captured", True)


def test_cuda_request_without_cuda_is_refused(bench):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    with pytest.raises(SystemExit):
        bench.main(["--tiny", "--device", "cuda"])


def test_tiny_remedies_measurement_writes_every_figure(tmp_path, capsys):
    """benchmarks/remedies.py measures every variant and the final fit (tiny: seconds)."""
    path = BENCH.parent / "remedies.py"
    spec = importlib.util.spec_from_file_location("gler_remedies", path)
    remedies = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(remedies)
    out = tmp_path / "remedies.json"
    assert remedies.main(["--tiny", "--models", "dlinear", "--seeds", "0",
                          "--out", str(out)]) == 0
    assert "| dlinear | all three |" in capsys.readouterr().out
    results = json.loads(out.read_text())["results"]["dlinear"]
    assert set(results) == {*remedies.VARIANTS, "final_fit"}
    assert all(_positive(results[v]["rmse_mm"]) for v in remedies.VARIANTS)
    assert _positive(results["final_fit"][0]["final_fit_mm"])
