"""`tfconv bench --quick`: every benchmark produces numbers (no timing assertions)."""

from __future__ import annotations

import json
import math
import types

import pytest

from tfconv import bench, cli, models


def _finite_numbers(tree) -> list[float]:
    if isinstance(tree, dict):
        return [v for x in tree.values() for v in _finite_numbers(x)]
    if isinstance(tree, list):
        return [v for x in tree for v in _finite_numbers(x)]
    return [tree] if isinstance(tree, float) else []


def test_quick_suite_writes_numbers_for_every_section(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("TFCONV_DATA_DIR", str(data_root))
    assert cli.main(["bench", "--quick", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench.json").read_text())
    sections = ("layers_training", "layers_training_single_thread", "layer_micro", "zoo",
                "pipeline", "throughput", "roofline", "time_to_accuracy", "inference",
                "ops")  # fmt: skip
    for section in sections:
        assert results[section], section
        numbers = _finite_numbers(results[section])
        assert numbers and all(math.isfinite(v) for v in numbers), section
    assert results["layers_training"]["tfconv_examples_per_sec"] > 0
    assert 0 < results["roofline"]["fraction_of_peak"] < 1
    assert 0 <= results["pipeline"]["input_wait_share"] < 1
    assert "| tfconv |" in (tmp_path / "bench.md").read_text()
    for sweep in results["throughput"].values():
        assert sweep["best"]["examples_per_sec"] > 0
    _check_zoo(results["zoo"], (tmp_path / "bench.md").read_text())


def _check_zoo(rows, markdown):
    import inspect

    from tfconv import layers as tl

    assert [r["model"] for r in rows] == [entry[0] for entry in bench.ZOO]
    has_groups = "groups" in inspect.signature(tl.Conv2D.__init__).parameters
    for row in rows:
        if "skipped" in row:  # only the grouped convs, and only before `groups` existed
            assert row["model"].startswith(("grouped", "depthwise")) and not has_groups, row
            continue
        # Both contenders computed the same function from the same weights
        # (float32 sums in another order), and were timed both ways.
        assert row["output_rel_diff"] < 1e-4, row
        for clock in ("cpu_1t", "wall"):
            assert row[clock]["tfconv_ms"] > 0 and row[clock]["keras_ms"] > 0, row
            assert row[clock]["ratio"] == row[clock]["keras_ms"] / row[clock]["tfconv_ms"]
        # quick: the first model's first conv/pool layer only
        for layer in row["cpu_1t"]["layers"]:
            assert layer["tfconv_fwd_bwd_ms"] > 0 and layer["keras_fwd_bwd_ms"] > 0
        assert f"| {row['model']} |" in markdown
    assert len(rows[0]["cpu_1t"]["layers"]) == 1
    assert "## 1b. Layer zoo" in markdown


def test_time_to_accuracy_keeps_the_recipe_length(monkeypatch):
    # A cosine schedule decays over the run's epochs: stretching the run to a
    # cap would change the recipe being timed.
    from tfconv import train

    seen = []

    def fake_train(cfg, print_fn=None, extra_callbacks=None):
        seen.append(cfg)
        return types.SimpleNamespace(history=[{"test_acc": 0.5}])

    monkeypatch.setattr(train, "train", fake_train)
    config = train.TrainConfig(variant="lenet_modern")
    report = bench.time_to_accuracy(0.9, config)
    assert seen[0].epochs == models.get_recipe("lenet_modern").epochs
    assert seen[0].schedule == "cosine" and not report["reached"]
    bench.time_to_accuracy(0.9, config, max_epochs=2)
    assert seen[1].epochs == 2


def test_lenet_flops_match_a_direct_count():
    # LeNet by hand: conv1 28*28*6 outputs x 25 MACs, conv2 10*10*16 x 150,
    # dense 400*120 + 120*84 + 84*10; training = forward x 3.
    macs = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    flops = bench.training_flops_per_example(models.build("lenet"))
    assert flops["forward"] == 2 * macs
    assert flops["training"] == 6 * macs
    assert bench.training_flops_per_example(models.build("lenet", layers="keras")) == flops


def test_throughput_runs_the_gpu_settings_on_the_cpu(data_root):
    # The GPU recipe's shape (XLA, several steps per call, mixed_float16),
    # scaled down: it must run here and leave the global policy as it was.
    import keras

    before = keras.mixed_precision.global_policy().name
    sweep = bench.training_throughput(
        settings=((64, True, 2, "mixed_float16"),), seconds=0.2, data_dir=str(data_root)
    )
    (row,) = sweep["settings"]
    assert row["precision"] == "mixed_float16" and row["examples_per_sec"] > 0
    assert len(row["window_rates"]) == 3 and row["examples_per_sec"] == max(row["window_rates"])
    assert sweep["best"] == row
    assert keras.mixed_precision.global_policy().name == before


def test_throughput_rejects_bad_windows():
    with pytest.raises(ValueError, match=r"Received: windows=0"):
        bench.training_throughput(windows=0)
