"""Issue 12, findings 5, 8 and 9: models that carry their preprocessing and labels,
one-line errors instead of tracebacks, and the conventions a Keras user expects.

One small run (`lenet_fast --standardize`, one epoch on 1024 images) is trained
once per module through `tfconv.train.train`, as `tfconv train` writes it.
Every CLI case runs `tfconv.cli.main` in-process and checks the exit status
and that stderr is one line; cases about imports run in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from PIL import Image

from tfconv import cli, data, export, models, train
from tfconv.export import tflite as export_tflite
from tfconv.utils import fileio

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("real_data")


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_root):
    """A finished standardised run, its test images as PNGs, and its training model."""
    root = tmp_path_factory.mktemp("issue12")
    config = train.TrainConfig(
        variant="lenet_fast",
        standardize=True,
        epochs=1,
        limit_train=1024,
        limit_test=256,
        data_dir=str(data_root),
        seed=0,
        verbose=0,
    )
    result = train.train(config, out=root / "run", print_fn=lambda _: None)
    _, (x_test, _) = data.load("fashion_mnist", data_dir=data_root)
    images = []
    for i in range(4):
        images.append(root / f"test{i}.png")
        Image.fromarray(x_test[i]).save(images[-1])
    return SimpleNamespace(
        root=root,
        dir=root / "run",
        model=result.model,
        pixels=x_test[:4],
        images=images,
        info=data.get_info("fashion_mnist"),
    )


def _reference_probs(model: keras.Model, pixels: np.ndarray, info: data.DatasetInfo) -> np.ndarray:
    """The training model on pixels standardised by NumPy, as the pipeline does."""
    x = pixels[..., None].astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(info.mean)) / np.float32(info.std)
    logits = np.asarray(model.predict(x, verbose=0), np.float64)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"tfconv {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------
# Finding 5: the model carries its preprocessing and class names
# --------------------------------------------------------------------------


class TestModelCarriesPreprocessing:
    def test_saved_model_scales_exactly_like_the_pipeline(self, run, data_root):
        loaded = keras.saving.load_model(run.dir / "model.keras", safe_mode=True)
        scaling = models.find_layer(loaded, models.PixelScaling)
        names = models.find_layer(loaded, models.ClassNames)
        assert (scaling.mean, scaling.std) == (run.info.mean, run.info.std)
        assert names.class_names == list(run.info.class_names)
        assert names.dataset == "fashion_mnist"
        pipes = data.pipelines(
            "fashion_mnist", 64, data_dir=data_root, standardize=True, limit_test=64
        )
        batch, _ = next(iter(pipes.test))
        _, (x_test, _) = data.load("fashion_mnist", data_dir=data_root)
        raw = x_test[:64, ..., None]
        # Same ops, same constants: bit for bit the pipeline's input.
        np.testing.assert_array_equal(np.asarray(scaling(raw)), batch.numpy())
        np.testing.assert_allclose(
            loaded.predict(raw.astype(np.float32), verbose=0),
            run.model.predict(batch.numpy(), verbose=0),
            rtol=0,
            atol=1e-5,
        )

    def test_copied_keras_file_predicts_like_its_run(self, run, tmp_path, capsys):
        lone = tmp_path / "elsewhere" / "lone.keras"
        lone.parent.mkdir()
        shutil.copy(run.dir / "model.keras", lone)
        reference = _reference_probs(run.model, run.pixels, run.info)
        for model in (run.dir, lone):
            results = export.predict(model, run.images, top=10)
            for row, ref in zip(results, reference, strict=True):
                got = dict(row)
                assert set(got) == set(run.info.class_names)  # names, not indices
                for i, name in enumerate(run.info.class_names):
                    assert got[name] == pytest.approx(ref[i], abs=1e-5)
        assert cli.main(["predict", str(lone), str(run.images[0]), "--top", "1"]) == 0
        best = run.info.class_names[int(reference[0].argmax())]
        assert f"1. {best}" in capsys.readouterr().out

    def test_corrupt_metrics_json_changes_nothing(self, run, tmp_path):
        copy = tmp_path / "run"
        copy.mkdir()
        shutil.copy(run.dir / "model.keras", copy / "model.keras")
        (copy / "metrics.json").write_text("{not json")
        report = export.export_model(
            copy,
            formats="tflite",
            quantize="none",
            limit_test=64,
            latency_runs=0,
            print_fn=None,
        )
        assert report["input"]["preprocessing"].startswith("(x / 255 - 0.286")
        assert report["labels"] == list(run.info.class_names)
        probs = export.TFLiteRunner(copy / "export" / "model.tflite")(run.pixels)
        np.testing.assert_allclose(
            probs, _reference_probs(run.model, run.pixels, run.info), atol=1e-5
        )

    def test_legacy_model_with_corrupt_metrics_json_is_refused(self, run, tmp_path, capsys):
        legacy = tmp_path / "legacy"
        legacy.mkdir()
        run.model.save(legacy / "model.keras")  # the network alone, as tfconv saved it before
        (legacy / "metrics.json").write_text("{not json")
        assert cli.main(["export", str(legacy), "--latency-runs", "0"]) == 2
        line = _one_line_error(capsys, "export")
        assert "metrics.json" in line and "--standardize" in line
        assert not (legacy / "export").exists()
        # Told explicitly, the legacy model exports with the scaling it was trained on.
        report = export.export_model(
            legacy,
            formats="tflite",
            standardize=True,
            limit_test=64,
            latency_runs=0,
            print_fn=None,
        )
        assert report["input"]["preprocessing"].startswith("(x / 255 - 0.286")

    def test_legacy_run_still_reads_its_metrics_json(self, run, tmp_path):
        legacy = tmp_path / "legacy"
        legacy.mkdir()
        run.model.save(legacy / "model.keras")
        (legacy / "metrics.json").write_text(
            json.dumps({"config": {"dataset": "fashion_mnist", "standardize": True}})
        )
        reference = _reference_probs(run.model, run.pixels, run.info)
        results = export.predict(legacy, run.images, top=1)
        for (name, prob), ref in zip((r[0] for r in results), reference, strict=True):
            assert name == run.info.class_names[int(ref.argmax())]
            assert prob == pytest.approx(ref.max(), abs=1e-5)

    def test_contradicting_standardize_is_refused(self, run, capsys, tmp_path):
        args = ["export", str(run.dir), "--out", str(tmp_path / "x"), "--no-standardize"]
        assert cli.main(args) == 2
        assert "carries its own preprocessing" in _one_line_error(capsys, "export")

    def test_int8_export_of_a_carrying_model_calibrates_on_raw_pixels(self, run, tmp_path):
        report = export.export_model(
            run.dir,
            tmp_path / "int8",
            formats="tflite",
            quantize="int8",
            limit_test=128,
            latency_runs=0,
            print_fn=None,
        )
        entry = report["exports"]["tflite_int8"]
        assert (entry["input"]["scale"], entry["input"]["zero_point"]) == (1.0, 0)
        assert entry["agreement"] >= 0.95


# --------------------------------------------------------------------------
# Finding 8: one line and exit 2 or 1, never a traceback
# --------------------------------------------------------------------------


class TestOneLineErrors:
    @pytest.mark.parametrize("command", ["export", "viz"])
    def test_out_under_a_file(self, run, tmp_path, capsys, command):
        blocker = tmp_path / "file.txt"
        blocker.write_text("x")
        assert cli.main([command, str(run.dir), "--out", str(blocker / "sub")]) == 2
        assert "is a file" in _one_line_error(capsys, command)

    @pytest.mark.parametrize(
        ("flag", "value", "name"),
        [
            ("--momentum", "5", "momentum"),
            ("--momentum", "-0.5", "momentum"),
            ("--lr", "nan", "lr"),
            ("--lr", "inf", "lr"),
            ("--lr", "-0.1", "lr"),
        ],
    )
    def test_bad_train_numbers_are_refused_up_front(self, tmp_path, capsys, flag, value, name):
        out = tmp_path / "run"
        args = ["train", "--epochs", "1", "--limit-train", "64", "--limit-test", "64"]
        assert cli.main([*args, "--out", str(out), flag, value]) == 2
        assert f"Received: {name}=" in _one_line_error(capsys, "train")
        assert not (out / "model.keras").exists()

    @pytest.mark.parametrize(
        "field", [{"lr": float("nan")}, {"lr": float("inf")}, {"momentum": 1.5}]
    )
    def test_train_config_refuses_too(self, field):
        name = next(iter(field))
        with pytest.raises(ValueError, match=rf"Received: {name}="):
            train.TrainConfig(**field).resolved()

    def test_nan_guard_names_the_epoch_it_stopped_in(self, tmp_path, data_root):
        class PoisonSecondEpoch(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    kernel = self.model.get_layer("logits").kernel
                    kernel.assign(np.full(kernel.shape, np.nan, np.float32))

        config = train.TrainConfig(
            variant="lenet_fast",
            epochs=2,
            limit_train=128,
            limit_test=32,
            data_dir=str(data_root),
            verbose=0,
        )
        with pytest.raises(train.TrainingDivergedError, match=r"in epoch 2, batch 0;"):
            train.train(config, extra_callbacks=[PoisonSecondEpoch()])

    def test_huge_image_is_refused_with_the_limit(self, run, tmp_path, capsys):
        # A PNG header claiming 30000x30000 pixels: refused before any decoding.
        def chunk(kind: bytes, body: bytes) -> bytes:
            crc = struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
            return struct.pack(">I", len(body)) + kind + body + crc

        huge = tmp_path / "huge.png"
        header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
        huge.write_bytes(
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b"")
        )
        assert cli.main(["predict", str(run.dir), str(huge)]) == 2
        line = _one_line_error(capsys, "predict")
        assert "900,000,000 pixels" in line and f"{export.MAX_IMAGE_PIXELS:,}" in line
        # A smaller limit refuses a moderate picture the same way, from its header.
        big = tmp_path / "big.png"
        Image.new("L", (300, 200)).save(big)
        with pytest.raises(ValueError, match=r"300x200 = 60,000 pixels, more than the limit"):
            export.load_image(big, max_pixels=50_000)

    def test_named_data_dir_that_does_not_exist_is_refused(self, tmp_path, capsys):
        args = ["train", "--epochs", "1", "--limit-train", "64", "--out", str(tmp_path / "r")]
        assert cli.main([*args, "--data-dir", str(tmp_path / "typo")]) == 2
        assert "does not exist" in _one_line_error(capsys, "train")

    def test_unexpected_failure_is_one_line(self, run, tmp_path, capsys, monkeypatch):
        def disk_full(*args, **kwargs):
            raise OSError(28, "No space left on device", str(tmp_path / "x"))

        monkeypatch.setattr(fileio, "atomic_file", disk_full)
        args = ["export", str(run.dir), "--out", str(tmp_path / "e"), "--format", "tflite"]
        assert cli.main([*args, "--no-verify", "--quiet"]) == 1
        assert "No space left on device" in _one_line_error(capsys, "export")

    def test_killed_exports_leftovers_are_removed_on_the_next_run(self, run, tmp_path):
        out = tmp_path / "export"
        out.mkdir()
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        dead_pid = int(dead.stdout)
        stale = out / f".saved_model.{dead_pid}.abcd1234.tmp"
        legacy = out / ".saved_model.k3j2h1g0.tmp"  # as tfconv named them before
        live = out / f".saved_model.{os.getpid()}.zzzz9999.tmp"
        stale_file = out / f".model.tflite.{dead_pid}.q1w2e3r4.tmp"
        unrelated = out / ".notes.tmp"
        for folder in (stale, legacy, live):
            (folder / "variables").mkdir(parents=True)
        stale_file.write_bytes(b"half")
        unrelated.write_text("mine")
        export.export_model(
            run.dir, out, formats="all", verify=False, latency_runs=0, print_fn=None
        )
        assert not stale.exists() and not legacy.exists() and not stale_file.exists()
        assert live.exists() and unrelated.exists()  # a live writer's and a stranger's
        assert (out / "saved_model" / "saved_model.pb").is_file()
        assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
            "export_report.json",
            "labels.json",
            "labels.txt",
            "model.tflite",
            "saved_model",
        ]

    def test_output_folder_checks_create_nothing(self, tmp_path):
        target = tmp_path / "a" / "b"
        assert fileio.check_output_dir(target) == target
        assert not (tmp_path / "a").exists()
        (tmp_path / "f").write_text("x")
        with pytest.raises(ValueError, match=r"is a file.*Received: out="):
            fileio.check_output_dir(tmp_path / "f" / "sub")


# --------------------------------------------------------------------------
# Finding 9: conventions
# --------------------------------------------------------------------------


def _start(code: str, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )


def _finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return _finish(_start(code, **env))


class TestConventions:
    def test_import_tfconv_registers_its_layers(self, run):
        # Keras imported after tfconv by TensorFlow's own import, which loads it
        # half-way through (the harder case; `import tfconv, keras` takes the
        # same hook).
        orders = ["import tfconv, tensorflow, keras"]
        started = [
            _start(
                f"""
                {imports}
                path = {str(run.dir / "model.keras")!r}
                model = keras.saving.load_model(path, safe_mode=True)
                print(type(model.get_layer("conv1")).__module__, model.layers[-1].class_names[5])
                """
            )
            for imports in orders
        ]
        for imports, process in zip(orders, started, strict=True):
            done = _finish(process)
            assert done.returncode == 0, (imports, done.stderr[-2000:])
            assert done.stdout.split() == ["tfconv.layers.conv2d", "Sandal"], imports

    def test_help_imports_neither_keras_nor_tensorflow(self):
        done = _python(
            """
            import sys
            from tfconv import cli
            cli.build_parser().format_help()
            print(sorted(m for m in ("keras", "tensorflow") if m in sys.modules))
            """
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "[]"

    def test_subcommand_help_imports_neither_keras_nor_tensorflow(self):
        # Each subcommand's options are added when it is parsed; choices from
        # modules that import Keras are read only when a value is checked.
        done = _python(
            """
            import contextlib, io, sys
            from tfconv import cli
            for command in cli.COMMANDS:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                    cli.build_parser().parse_args([command.name, "--help"])
            print(sorted(m for m in ("keras", "tensorflow") if m in sys.modules))
            """
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "[]"

    def test_lazy_choices_are_checked_when_parsed(self, capsys):
        with pytest.raises(SystemExit) as exit_:
            cli.build_parser().parse_args(["train", "--optimizer", "nope"])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert "invalid choice: 'nope'" in err
        assert all(repr(name) in err for name in models.OPTIMIZERS)
        assert cli.build_parser().parse_args(["train", "--optimizer", "adam"]).optimizer == "adam"

    def test_other_keras_backend_gets_one_clear_error(self, tmp_path):
        # NumPy is the one other backend Keras ships without extra packages
        # (it needs JAX for some ops: without JAX, Keras itself fails to import,
        # which gets the same one clear error).
        done = _python(
            """
            import tfconv
            try:
                import tfconv.layers
            except tfconv.BackendError as err:
                print("refused:", err)
            """,
            KERAS_BACKEND="numpy",
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.startswith("refused: ")
        assert "TensorFlow backend" in done.stdout and "KERAS_BACKEND=tensorflow" in done.stdout
        cmd = _python(
            f"""
            import sys
            from tfconv import cli
            sys.exit(cli.main(["train", "--epochs", "1", "--out", {str(tmp_path / "r")!r}]))
            """,
            KERAS_BACKEND="numpy",
        )
        assert cmd.returncode == 1
        ours = [line for line in cmd.stderr.splitlines() if line.startswith("tfconv")]
        assert ours == [ours[0]] and "KERAS_BACKEND=tensorflow" in ours[0], cmd.stderr[-2000:]
        assert "Traceback" not in cmd.stderr

    def test_backend_check_in_process(self, monkeypatch):
        import tfconv

        monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
        with pytest.raises(tfconv.BackendError, match=r"Received: backend='jax'"):
            tfconv.require_tensorflow_backend()

    def test_verbose_0_is_silent(self, tmp_path, capsys):
        args = ["train", "--variant", "lenet_fast", "--epochs", "1", "--limit-train", "128"]
        args += ["--limit-test", "64", "--out", str(tmp_path / "run"), "--verbose", "0"]
        assert cli.main(args) == 0
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "epoch" not in captured.err and "loss" not in captured.err
        assert (tmp_path / "run" / "model.keras").is_file()

    def test_bench_has_no_ignored_data_flags(self):
        parser = cli.build_parser()
        for flag in ("--dataset", "--source"):
            with pytest.raises(SystemExit) as exit_:
                parser.parse_args(["bench", flag, "mnist"])
            assert exit_.value.code == 2
        assert parser.parse_args(["bench", "--data-dir", "d"]).data_dir == "d"

    def test_export_shows_progress_before_each_artefact(self, run, tmp_path, capsys, monkeypatch):
        seen: list[str] = []
        convert = export_tflite.convert_tflite

        def watched(module, quantize, *args):
            seen.append(capsys.readouterr().err)  # what was shown before this conversion
            return convert(module, quantize, *args)

        monkeypatch.setattr(export_tflite, "convert_tflite", watched)
        args = ["export", str(run.dir), "--out", str(tmp_path / "e"), "--format", "tflite"]
        assert (
            cli.main(
                [*args, "--quantize", "none,float16", "--limit-test", "16", "--latency-runs", "0"]
            )
            == 0
        )
        assert "converting model.tflite" in seen[0]
        assert "converting model_float16.tflite" in seen[1]
        rest = capsys.readouterr().err
        assert "checking model.tflite" in rest and "checking model_float16.tflite" in rest
        assert cli.main([*args, "--quantize", "float16", "--no-verify", "--quiet"]) == 0
        assert capsys.readouterr() == ("", "")

    def test_packaging_metadata(self):
        assert (ROOT / "tfconv" / "py.typed").is_file()
        license_text = (ROOT / "LICENSE").read_text()
        assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
        pyproject = (ROOT / "pyproject.toml").read_text()
        assert '"py.typed"' in pyproject
        assert 'gpu = ["tensorflow[and-cuda]==2.21.*"]' in pyproject
        assert "License :: OSI Approved :: Apache Software License" in pyproject
