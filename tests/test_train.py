"""Training end to end: outputs, resume after SIGKILL, distribution, precision, CLI errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env

from tfconv import cli, train
from tfconv.utils import fileio

pytestmark = pytest.mark.usefixtures("real_data")


SMALL = dict(limit_train=2048, limit_test=512, batch_size=128, verbose=0)


def _history(path: Path) -> list[dict[str, str]]:
    with (path / "history.csv").open() as f:
        return list(csv.DictReader(f))


class TestTrainRun:
    def test_short_run_learns_and_writes_every_file(self, data_root, tmp_path):
        config = train.TrainConfig(
            epochs=2, optimizer="adam", lr=3e-3, variant="lenet_relu", **SMALL
        )
        result = train.train(config, out=tmp_path, print_fn=lambda _: None)
        for name in ("model.keras", "metrics.json", "history.csv", "curves.png"):
            assert (tmp_path / name).stat().st_size > 0, name
        assert any((tmp_path / "logs").rglob("events.out.tfevents.*"))
        assert not (tmp_path / "backup").exists(), "the resume checkpoint outlives the run"
        metrics = json.loads((tmp_path / "metrics.json").read_text())
        # Chance is 0.1; two epochs on 2k images of a ReLU LeNet reach far more.
        assert metrics["test_acc"] > 0.5
        assert metrics["num_params"] == result.model.count_params()
        assert metrics["config"]["variant"] == "lenet_relu"
        assert metrics["precision"] == "float32"
        rows = _history(tmp_path)
        assert [int(r["epoch"]) for r in rows] == [1, 2]
        assert float(rows[-1]["test_acc"]) == pytest.approx(metrics["test_acc"], abs=1e-5)
        assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def test_saved_model_reloads_with_same_predictions(self, data_root, tmp_path):
        import keras

        config = train.TrainConfig(epochs=1, **SMALL)
        result = train.train(config, out=tmp_path, print_fn=lambda _: None)
        # The saved model takes raw pixels and scales them as the pipeline does.
        pixels = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype(np.float32)
        x = pixels / np.float32(255.0)
        reloaded = keras.models.load_model(tmp_path / "model.keras")
        np.testing.assert_allclose(reloaded.predict(pixels, verbose=0), result.model(x), atol=1e-6)

    def test_prints_the_books_epoch_lines(self, data_root, tmp_path):
        lines: list[str] = []
        train.train(train.TrainConfig(epochs=1, **SMALL), out=None, print_fn=lines.append)
        assert lines[0].startswith("epoch 1/1: loss ")
        assert ", train acc " in lines[0] and ", test acc " in lines[0]
        assert lines[1].endswith(f" examples/sec on CPU ({os.cpu_count()} cores)")

    def test_deterministic_runs_are_identical(self, data_root):
        config = train.TrainConfig(epochs=1, seed=7, deterministic=True, **SMALL)
        a = train.train(config, print_fn=lambda _: None).metrics
        b = train.train(config, print_fn=lambda _: None).metrics
        assert a["test_acc"] == b["test_acc"]
        assert a["loss"] == b["loss"]

    def test_mixed_precision_keeps_logits_and_loss_float32(self, data_root):
        import keras

        config = train.TrainConfig(epochs=1, precision="mixed_float16", **SMALL)
        result = train.train(config, print_fn=lambda _: None)
        assert np.isfinite(result.metrics["loss"])
        assert result.metrics["precision"] == "mixed_float16"
        assert result.model.layers[1].compute_dtype == "float16"
        logits = result.model(np.zeros((2, 28, 28, 1), np.float32))
        assert logits.dtype == "float32"
        # The global policy is restored for whoever trains next.
        assert keras.mixed_precision.dtype_policy().name == "float32"

    def test_divergence_is_reported(self, data_root):
        config = train.TrainConfig(
            epochs=1, variant="lenet_relu", optimizer="sgd", lr=1e6, **SMALL
        )
        with pytest.raises(train.TrainingDivergedError, match="smaller learning rate"):
            train.train(config, print_fn=lambda _: None)


class TestConfig:
    def test_recipe_fills_unset_fields(self):
        cfg = train.TrainConfig().resolved()
        assert (cfg.optimizer, cfg.lr, cfg.epochs, cfg.batch_size) == ("sgd", 0.9, 10, 256)

    def test_config_file_mixes_train_and_model_fields(self, tmp_path):
        path = tmp_path / "best.json"
        path.write_text(json.dumps({"variant": "lenet", "lr": 0.1, "activation": "relu"}))
        cfg = train.config_from_file(path, epochs=3).resolved()
        assert (cfg.lr, cfg.epochs, cfg.model) == (0.1, 3, {"activation": "relu"})

    @pytest.mark.parametrize(
        "kwargs, name",
        [
            ({"lr": 0.0}, "lr"),
            ({"lr": -1.0}, "lr"),
            ({"epochs": 0}, "epochs"),
            ({"batch_size": 0}, "batch_size"),
            ({"dataset": "cifar10"}, "dataset"),
            ({"variant": "alexnet"}, "variant"),
            ({"precision": "float64"}, "precision"),
        ],
    )
    def test_bad_values_name_the_field(self, kwargs, name):
        with pytest.raises(ValueError, match=rf"Received: {name}="):
            train.TrainConfig(**kwargs).resolved()

    def test_unknown_config_key(self, tmp_path):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"learning_rate": 0.1}))
        with pytest.raises(ValueError, match="Unknown key 'learning_rate'"):
            train.config_from_file(path)

    def test_bad_values_are_refused_when_the_config_is_made(self):
        # Checked in __post_init__, so dataclasses.replace checks again.
        with pytest.raises(ValueError, match=r"Received: momentum=1\.5"):
            train.TrainConfig(momentum=1.5)
        cfg = train.TrainConfig(momentum=0)
        assert isinstance(cfg.momentum, float)
        with pytest.raises(ValueError, match=r"Received: epochs=0"):
            dataclasses.replace(cfg, epochs=0)

    def test_resolved_fills_the_recipe_and_nothing_else(self):
        cfg = train.TrainConfig(lr=0.05, augment=True)
        resolved = cfg.resolved()
        assert (resolved.lr, resolved.augment, resolved.epochs) == (0.05, True, 10)
        assert cfg.epochs is None  # a copy: the config itself is unchanged


class TestSteps:
    """The named steps of a run, each on its own."""

    def test_run_settings_leave_out_what_a_resume_may_change(self):
        cfg = train.TrainConfig(verbose=0, steps_per_execution=4, data_dir="/x").resolved()
        settings = train.run_settings(cfg, "float32", "abc")
        assert settings["precision"] == "float32" and settings["data_sha256"] == "abc"
        assert not {"verbose", "steps_per_execution", "data_dir", "source", "scale_lr"} & set(
            settings
        )
        assert settings["lr"] == 0.9

    def test_data_fingerprint_sees_bytes_and_shapes(self):
        a = np.arange(6, dtype=np.uint8)
        assert train.data_fingerprint([a]) == train.data_fingerprint([a.copy()])
        assert train.data_fingerprint([a]) != train.data_fingerprint([a.reshape(2, 3)])
        assert train.data_fingerprint([a]) != train.data_fingerprint([a + 1])

    def test_summarize_averages_throughput_after_the_first_epoch(self):
        from tfconv.train.results import summarize

        history = [
            {"epoch": 1, "loss": 2.0, "test_acc": 0.1, "examples_per_sec": 10.0, "wall": 3.0},
            {"epoch": 2, "loss": 1.0, "test_acc": 0.5, "examples_per_sec": 30.0, "wall": 2.0},
        ]
        metrics = summarize(history, wall=99.0, facts={"device": "cpu"})
        assert (metrics["loss"], metrics["test_acc"], metrics["epochs"]) == (1.0, 0.5, 2)
        assert metrics["examples_per_sec"] == 20.0
        assert metrics["examples_per_sec_after_first"] == 30.0
        assert metrics["wall_seconds"] == 5.0  # every attempt's epochs, not this attempt's
        assert list(metrics)[-1] == "device"

    def test_history_round_trips_through_csv(self, tmp_path):
        rows = [{"epoch": 1, "loss": 0.123456789, "train_acc": 0.5, "wall": 1.0}]
        train.write_history(tmp_path / "history.csv", rows)
        (back,) = train.read_history(tmp_path / "history.csv")
        assert back == {"epoch": 1.0, "loss": 0.123457, "train_acc": 0.5}  # no wall column

    def test_curves_are_drawn_without_pyplot(self, tmp_path):
        # A notebook's plotting backend must survive a training run.
        script = textwrap.dedent(
            f"""
            import sys
            from tfconv.train import curves
            history = [{{"epoch": 1, "loss": 1.0, "train_acc": 0.5, "test_acc": 0.6}}]
            curves.write_curves({str(tmp_path / "c.png")!r}, history, "title")
            print("matplotlib.pyplot" in sys.modules)
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip() == "False"
        assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class TestCli:
    @pytest.mark.parametrize(
        "argv, needle",
        [
            (["--variant", "alexnet"], "variant"),
            (["--lr", "0"], "lr"),
            (["--lr", "-0.5"], "lr"),
            (["--epochs", "0"], "epochs"),
        ],
    )
    def test_bad_input_exits_2_with_one_line(self, argv, needle, tmp_path, capsys):
        code = cli.main(["train", "--out", str(tmp_path / "run"), *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2
        assert len(err.splitlines()) == 1 and needle in err and "Received" in err

    def test_unknown_dataset_exits_2(self, capsys):
        with pytest.raises(SystemExit) as info:
            cli.main(["train", "--dataset", "cifar10"])
        assert info.value.code == 2
        assert "cifar10" in capsys.readouterr().err

    def test_unwritable_out_exits_2(self, data_root, tmp_path, capsys):
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        code = cli.main(["train", "--epochs", "1", "--out", str(blocker / "run")])
        assert code == 2
        assert "not writable" in capsys.readouterr().err

    def test_variants_lists_every_registered_variant(self, capsys):
        from tfconv import models

        assert cli.main(["variants"]) == 0
        listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
        assert listed == models.list_variants()

    def test_help_lists_subcommands(self, capsys):
        with pytest.raises(SystemExit) as info:
            cli.main(["--help"])
        assert info.value.code == 0
        assert "train" in capsys.readouterr().out


class TestDistributed:
    def test_mirrored_on_two_logical_cpus(self, data_root, tmp_path):
        script = textwrap.dedent(
            f"""
            import json, tensorflow as tf
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
            from tfconv import train
            cfg = train.TrainConfig(strategy="mirrored", epochs=1, limit_train=1024,
                                    limit_test=256, batch_size=128, verbose=0)
            result = train.train(cfg, out={str(tmp_path)!r}, print_fn=lambda _: None)
            print(json.dumps(result.metrics["replicas"]))
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], env=child_env(data_root), capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.strip().splitlines()[-1] == "2"
        metrics = json.loads((tmp_path / "metrics.json").read_text())
        assert metrics["strategy"] == "mirrored" and np.isfinite(metrics["loss"])


class TestGpuRecipe:
    """The GPU recipe (large batch, scaled lr, XLA, steps_per_execution) runs on the CPU."""

    def test_scale_lr_is_linear_in_batch_size(self):
        cfg = train.TrainConfig(batch_size=1024, scale_lr=True).resolved()
        assert cfg.lr == pytest.approx(0.9 * 1024 / 256)

    def test_large_batch_xla_recipe_trains(self, data_root, tmp_path, capsys):
        code = cli.main(
            ["train", "--variant", "lenet_relu", "--batch-size", "512", "--scale-lr",
             "--steps-per-execution", "4", "--jit", "--epochs", "1", "--limit-train", "4096",
             "--limit-test", "512", "--verbose", "0", "--out", str(tmp_path)]
        )  # fmt: skip
        assert code == 0
        assert capsys.readouterr().out == ""  # --verbose 0: silent but for errors
        metrics = json.loads((tmp_path / "metrics.json").read_text())
        assert metrics["config"]["lr"] == pytest.approx(0.1 * 512 / 256)
        assert metrics["config"]["jit"] is True


def test_atomic_writes_leave_shared_files_and_no_temporaries(tmp_path):
    # Temporary files are private (0600); what lands under the target name has
    # the permissions an ordinary open() would give it.
    fileio.write_json_atomic(tmp_path / "m.json", {"a": 1})
    with fileio.atomic_file(tmp_path / "t.txt") as tmp:
        tmp.write_text("x")
    for name in ("m.json", "t.txt"):
        assert (tmp_path / name).stat().st_mode & 0o777 == fileio.umask_mode(0o666)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "t.txt"]
