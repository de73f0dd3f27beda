"""Hyperparameter search: search space, oracles, outputs, resume after SIGKILL, distribution."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner
import numpy as np
import pytest

from tfconv import cli, data, models, train, tune

TINY = ["--epochs", "1", "--limit-train", "1024", "--limit-test", "512", "--verbose", "0"]
STARTED = re.compile(r"tfconv tune: trial (\w+) started \((\w+)\)")


def _rows(directory: Path) -> list[dict[str, str]]:
    with (directory / "results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _trials(directory: Path) -> dict[str, dict]:
    """trial id -> trial.json contents, for every trial KerasTuner recorded."""
    out = {}
    for path in (directory / tune.PROJECT).glob("trial_*/trial.json"):
        state = json.loads(path.read_text())
        out[state["trial_id"]] = state
    return out


def _env(data_root: Path) -> dict[str, str]:
    env = dict(os.environ, TFCONV_DATA_DIR=str(data_root), TF_CPP_MIN_LOG_LEVEL="3")
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    return env


def _run_tfconv(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    code = "import sys; from tfconv.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, **kw)


# --------------------------------------------------------------------------
# The search space (no training)
# --------------------------------------------------------------------------


class TestSearchSpace:
    def test_names_are_config_field_names(self):
        hp = keras_tuner.HyperParameters()
        fields = tune.declare(hp)
        valid = {f.name for f in dataclasses.fields(train.TrainConfig)}
        valid |= {f.name for f in dataclasses.fields(models.ModelConfig)}
        names = [p.name for p in hp.space]
        assert all(name.split("/")[-1] in valid for name in names), names
        assert set(fields["model"]) <= valid and set(fields) - {"model"} <= valid
        # A choice that only matters for some candidates is conditional on them.
        parents = {p.name: {c.name for c in p.conditions} for p in hp.space}
        assert parents["adam/lr"] == {"optimizer"} and parents["sgd/lr"] == {"optimizer"}
        assert parents["sgd/momentum"] == {"optimizer"}
        assert parents["conv_padding"] == {"conv_channels"}
        assert parents["pooling"] == set()

    def test_space_covers_the_issue(self):
        space = tune.SearchSpace()
        depths = {len(s.split(",")) for s in space.conv_channels}
        heads = {len(s.split(",")) for s in space.dense_units}
        assert depths == {2, 3, 4} and heads == {1, 2, 3}
        assert {"max", "avg"} == set(space.pooling)
        assert {"sigmoid", "relu"} < set(space.activation)
        assert set(space.kernel_size) == {3, 5, 7}
        assert {"glorot_uniform", "he_normal"} == set(space.initializer)
        assert {"sgd", "adam"} == set(space.optimizer)

    @pytest.mark.parametrize(
        "overrides",
        [
            {},
            {"batch_norm": True, "conv_channels": (8, 16, 32, 64), "conv_padding": "same"},
            {"kernel_size": 7, "first_padding": 3, "conv_padding": "valid"},
            {"dense_units": (), "dropout": 0.5},
        ],
    )
    def test_count_params_matches_keras(self, overrides):
        config = dataclasses.replace(models.ModelConfig(), **overrides)
        assert tune.count_params(config) == models.build(config, layers="keras").count_params()

    @pytest.mark.parametrize("name", tune.TUNERS)
    def test_every_oracle_proposes_valid_configs_within_budget(self, name, tmp_path):
        hypermodel = tune.LeNetHyperModel(max_params=100_000)
        tuner = tune.make_tuner(
            hypermodel, name, directory=tmp_path, max_trials=5, epochs=3, num_initial_points=4
        )
        oracle = tuner.oracle
        oracle.verbose = 0
        rng = np.random.default_rng(0)
        seen = set()
        for _ in range(5):  # the last one from Bayesian optimisation's Gaussian process
            trial = oracle.create_trial("tuner0")
            assert trial.status == "RUNNING"
            fields = hypermodel.fields(trial.hyperparameters.copy())
            config = hypermodel.model_config(fields)
            assert tune.count_params(config) <= 100_000
            train_fields = {k: v for k, v in fields.items() if k != "model"}
            train.TrainConfig(**train_fields, model=fields["model"]).resolved()
            seen.add(json.dumps(trial.hyperparameters.values, sort_keys=True))
            oracle.update_trial(trial.trial_id, {tune.OBJECTIVE: float(rng.random())})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
        assert len(seen) == 5

    def test_grid_search_resumes_where_it_stopped(self, tmp_path):
        hypermodel = tune.LeNetHyperModel()

        def run(trials: int) -> list:
            tuner = tune.make_tuner(hypermodel, "grid", directory=tmp_path, max_trials=4)
            tuner.oracle.verbose = 0
            seen = []
            for _ in range(trials):
                trial = tuner.oracle.create_trial("tuner0")
                if trial.status != "RUNNING":
                    return [*seen, trial.status]
                tuner.oracle.update_trial(trial.trial_id, {tune.OBJECTIVE: 0.5})
                trial.status = "COMPLETED"
                tuner.oracle.end_trial(trial)
                tuner.save()
                seen.append(json.dumps(trial.hyperparameters.values, sort_keys=True))
            return seen

        first = run(2)
        # KerasTuner keeps the grid's cursor in memory only; a reload used to stop.
        second = run(3)
        assert second[-1] == "STOPPED" and len(second) == 3
        assert len(set(first + second[:-1])) == 4

    @pytest.mark.parametrize("dtype_policy", ["float32"], indirect=True)
    def test_build_sets_the_precision_policy_after_clear_session(self, dtype_policy):
        hypermodel = tune.LeNetHyperModel(precision="mixed_float16")
        hp = keras_tuner.HyperParameters()
        keras.mixed_precision.set_dtype_policy("mixed_float16")
        # What KerasTuner does before every trial; it resets the policy.
        keras.backend.clear_session()
        assert keras.mixed_precision.dtype_policy().name == "float32"
        model = hypermodel.build(hp)
        assert model.get_layer("conv1").compute_dtype == "float16"
        assert model.get_layer("logits").compute_dtype == "float32"


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


class TestCli:
    @pytest.mark.parametrize(
        "argv, needle",
        [
            (["--tuner", "annealing"], "tuner"),
            (["--max-trials", "0"], "max_trials"),
            (["--epochs", "0"], "epochs"),
            (["--validation-split", "1.5"], "validation_split"),
            (["--distributed", "--workers", "-1"], "workers"),
        ],
    )
    def test_bad_values_exit_2_with_one_line(self, argv, needle, tmp_path, capsys):
        code = cli.main(["tune", "--dir", str(tmp_path / "s"), *argv])
        err = capsys.readouterr().err.strip()
        assert code == 2, err
        assert len(err.splitlines()) == 1 and needle in err and "Received" in err
        assert not (tmp_path / "s").exists()

    def test_refuses_a_folder_that_is_not_a_tfconv_search(self, tmp_path, capsys):
        (tmp_path / "oracle.json").write_text("{}")
        for extra in ([], ["--overwrite"]):
            assert cli.main(["tune", "--dir", str(tmp_path), *extra]) == 2
            assert "not a tfconv search" in capsys.readouterr().err
        assert (tmp_path / "oracle.json").exists(), "a foreign folder was touched"

    def test_refuses_another_search_unless_overwrite(self, tmp_path, capsys):
        tune.prepare_directory(tmp_path, tune.TuneConfig(tuner="random", epochs=1))
        (tmp_path / tune.PROJECT).mkdir()
        (tmp_path / tune.PROJECT / "oracle.json").write_text("{}")
        code = cli.main(["tune", "--tuner", "grid", "--epochs", "1", "--dir", str(tmp_path)])
        err = capsys.readouterr().err
        assert code == 2 and "different search" in err and "tuner: 'random' there" in err
        # --overwrite clears the old search (what `search` does before starting over).
        resume = tune.prepare_directory(
            tmp_path, tune.TuneConfig(tuner="grid", epochs=1), overwrite=True
        )
        assert not resume and not (tmp_path / tune.PROJECT).exists()
        marker = json.loads((tmp_path / tune.MARKER).read_text())
        assert marker["tuner"] == "grid"

    def test_help_lists_tune(self, capsys):
        with pytest.raises(SystemExit):
            cli.main(["--help"])
        assert "tune" in capsys.readouterr().out


# --------------------------------------------------------------------------
# The search's steps, one at a time (no training)
# --------------------------------------------------------------------------


class TestSteps:
    @pytest.mark.parametrize(
        "field",
        [
            {"tuner": "annealing"},
            {"max_trials": 0},
            {"epochs": True},
            {"validation_split": 1.0},
            {"validation_split": 0},
            {"verbose": 3},
            {"source": "web"},
            {"max_params": -5},
        ],
    )
    def test_config_refuses_bad_fields_when_made(self, field):
        name = next(iter(field))
        with pytest.raises(ValueError, match=rf"`{name}`.*Received: {name}="):
            tune.TuneConfig(**field)

    def test_validate_checks_reassigned_fields_and_returns_the_config(self):
        config = tune.TuneConfig(epochs=2)
        assert config.validate() is config
        config.epochs = 0
        with pytest.raises(ValueError, match="Received: epochs=0"):
            config.validate()

    def test_best_epoch_is_kept_and_divergence_scores_zero(self):
        from tfconv.tune.hypermodel import _best_epoch

        nan = float("nan")
        best = _best_epoch({"loss": [1.0, 0.5, nan], tune.OBJECTIVE: [0.6, 0.8, nan]}, 10, 2.0)
        assert best[tune.OBJECTIVE] == 0.8 and best["loss"] == 0.5
        assert best["diverged"] == 1.0 and best["num_params"] == 10.0
        lost = _best_epoch({"loss": [nan], tune.OBJECTIVE: [nan]}, 10, 2.0)
        assert lost[tune.OBJECTIVE] == 0.0 and lost["diverged"] == 1.0

    def test_role_needs_all_three_variables(self, monkeypatch):
        from tfconv.tune.distributed import role

        for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
            monkeypatch.delenv(name, raising=False)
        assert role() == "single"
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
        with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID"):
            role()
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner3")
        assert role() == "worker"
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
        assert role() == "chief"

    def test_trial_rows_rank_completed_trials_best_first(self):
        hypermodel = tune.LeNetHyperModel()
        hp = keras_tuner.HyperParameters()
        hypermodel.fields(hp)
        trials = []
        for trial_id, score in (("a", 0.5), ("b", 0.9), ("c", None)):
            trial = keras_tuner.engine.trial.Trial(hp.copy(), trial_id=trial_id)
            trial.status = "COMPLETED" if score is not None else "FAILED"
            trial.score = score
            trials.append(trial)
        rows = tune.trial_rows(trials, hypermodel, epochs=3)
        assert [(r["trial_id"], r["rank"]) for r in rows] == [("b", 1), ("a", 2), ("c", None)]
        assert rows[0]["conv_channels"] == "16,32,64" and rows[0]["epochs"] == 3


# --------------------------------------------------------------------------
# A tiny search on real data
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_search(data_root, tmp_path_factory) -> tuple[Path, list[str]]:
    directory = tmp_path_factory.mktemp("tune") / "search"
    argv = ["tune", "--max-trials", "3", "--data-dir", str(data_root), "--dir", str(directory)]
    argv += TINY
    assert cli.main(argv) == 0
    return directory, argv


class TestTinySearch:
    def test_writes_every_output(self, tiny_search):
        directory, _ = tiny_search
        for name in (*tune.RESULT_FILES, tune.MARKER):
            assert (directory / name).stat().st_size > 0, name
        rows = _rows(directory)
        assert [r["trial_id"] for r in rows] and len(rows) == 3
        assert all(r["status"] == "COMPLETED" for r in rows)
        scores = [float(r["val_accuracy"]) for r in rows]
        assert scores == sorted(scores, reverse=True), "not sorted best first"
        assert [r["rank"] for r in rows] == ["1", "2", "3"]
        assert all(int(r["num_params"]) > 0 and float(r["seconds"]) > 0 for r in rows)
        assert all(r["conv_channels"] and r["optimizer"] in ("adam", "sgd") for r in rows)
        md = (directory / "results.md").read_text().splitlines()
        assert md[0].startswith("| rank | trial_id |") and len(md) == 2 + 3

    def test_best_config_retrains_with_tfconv_train(self, tiny_search):
        directory, _ = tiny_search
        path = directory / "best_config.json"
        cfg = train.config_from_file(path).resolved()
        summary = json.loads((directory / "summary.json").read_text())
        best = _rows(directory)[0]
        assert summary["best_trial"] == best["trial_id"]
        assert (cfg.optimizer, cfg.batch_size) == (best["optimizer"], int(best["batch_size"]))
        assert cfg.epochs == 1 and cfg.dataset == "fashion_mnist"
        model = models.build(cfg.variant, layers=cfg.layers, **cfg.model)
        assert model.count_params() == summary["num_params"] == int(best["num_params"])

    def test_best_model_is_saved_and_evaluated_on_the_test_set(self, tiny_search, data_root):
        directory, _ = tiny_search
        summary = json.loads((directory / "summary.json").read_text())
        # The saved model takes raw pixels, as a run's model.keras does.
        model = keras.models.load_model(directory / "best_model.keras")
        _, (x_test, y_test) = data.load("fashion_mnist", data_dir=data_root)
        logits = model.predict(x_test[:512], batch_size=256, verbose=0)
        acc = float(np.mean(np.argmax(logits, axis=-1) == y_test[:512]))
        assert acc == pytest.approx(summary["test_acc"], abs=1e-6)
        assert summary["val_accuracy"] == pytest.approx(
            float(_rows(directory)[0]["val_accuracy"]), abs=1e-4
        )
        # A learned model, not chance (1024 examples, one epoch).
        assert summary["test_acc"] > 0.15

    def test_rerun_repeats_no_trial(self, tiny_search, capsys):
        directory, argv = tiny_search
        before = _trials(directory)
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "Reloading Tuner" in out and not STARTED.search(out)
        assert _trials(directory).keys() == before.keys()
        assert len(_rows(directory)) == 3

    def test_an_unreadable_trial_file_does_not_break_the_reload(self, tiny_search, tmp_path):
        source, argv = tiny_search
        directory = tmp_path / "copy"
        shutil.copytree(source, directory)
        broken = directory / tune.PROJECT / "trial_1" / "trial.json"
        broken.write_text(broken.read_text()[:40])  # what a kill mid-write leaves
        argv = [*argv[: argv.index("--dir")], "--dir", str(directory), *TINY]
        assert cli.main(argv) == 0
        status = {r["trial_id"]: r["status"] for r in _rows(directory)}
        assert status == {"0": "COMPLETED", "1": "FAILED", "2": "COMPLETED"}


# Loading a mixed-precision model under the float32 policy compiles it without
# Keras's loss-scale wrapper, whose extra optimizer variables Keras then skips.
@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_hyperband_search_keeps_the_mixed_precision_policy(data_root, tmp_path):
    # float16 convolutions are slow on CPU: small models only.
    space = tune.SearchSpace(
        conv_channels=("4,8", "8,16"), kernel_size=(3,), dense_units=("16", "32")
    )
    config = tune.TuneConfig(
        tuner="hyperband",
        space=space,
        max_trials=2,
        epochs=1,
        precision="mixed_float16",
        limit_train=512,
        limit_test=256,
        data_dir=str(data_root),
        verbose=0,
    )
    result = tune.search(config, tmp_path, print_fn=lambda _: None)
    assert len(result.rows) == 2
    assert result.model.get_layer("conv1").compute_dtype == "float16"
    saved = keras.models.load_model(tmp_path / "best_model.keras")
    assert saved.get_layer("conv1").dtype_policy.name == "mixed_float16"
    assert saved.get_layer("logits").compute_dtype == "float32"
    assert keras.mixed_precision.dtype_policy().name == "float32", "the policy leaked"
    cfg = train.config_from_file(tmp_path / "best_config.json").resolved()
    assert cfg.precision == "mixed_float16" and cfg.epochs == 1


# --------------------------------------------------------------------------
# Fault tolerance and distribution (subprocesses)
# --------------------------------------------------------------------------


def test_resume_after_sigkill(data_root, tmp_path):
    directory = tmp_path / "search"
    args = ["tune", "--max-trials", "3", "--epochs", "2", "--limit-train", "1024",
            "--limit-test", "256", "--verbose", "0", "--dir", str(directory)]  # fmt: skip
    env = _env(data_root)
    proc = _run_tfconv(args, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # Kill in the middle of a trial, once an earlier one has finished.
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            statuses = {t: s["status"] for t, s in _trials(directory).items()}
        except (OSError, ValueError):  # a file being replaced right now
            statuses = {}
        if "COMPLETED" in statuses.values() and "RUNNING" in statuses.values():
            break
        time.sleep(0.1)
    assert proc.poll() is None, "the search ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {t for t, s in _trials(directory).items() if s["status"] == "COMPLETED"}
    interrupted = {t for t, s in _trials(directory).items() if s["status"] == "RUNNING"}
    assert finished and interrupted and not (directory / "summary.json").exists()

    second = _run_tfconv(args, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    log = second.communicate(timeout=300)[0].decode()
    assert second.returncode == 0, log[-3000:]
    started = [m.group(1) for m in STARTED.finditer(log)]
    assert not finished & set(started), f"finished trials ran again: {started}"
    assert interrupted <= set(started), "the interrupted trial was not run again"
    assert len(started) == len(set(started))
    trials = _trials(directory)
    assert sorted(trials) == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" and t["score"] is not None for t in trials.values())
    assert len(_rows(directory)) == 3


def test_distributed_chief_and_two_workers_on_loopback(data_root, tmp_path):
    directory = tmp_path / "search"
    args = ["tune", "--distributed", "--workers", "2", "--max-trials", "3", "--epochs", "1",
            "--limit-train", "512", "--limit-test", "256", "--verbose", "0",
            "--dir", str(directory)]  # fmt: skip
    proc = _run_tfconv(
        args,
        _env(data_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # so that a hang can be cleaned up, chief and workers
    )
    try:
        log = proc.communicate(timeout=420)[0].decode()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, log[-4000:]
    # Each line a participant printed is prefixed with its KerasTuner id.
    runs = []
    for who, line in re.findall(r"^\[(\w+)\] (.*)$", log, flags=re.M):
        match = STARTED.search(line)
        if match:
            assert match.group(2) == who
            runs.append((match.group(1), who))
    ids = [trial_id for trial_id, _ in runs]
    assert sorted(ids) == ["0", "1", "2"], f"every trial must run exactly once: {runs}"
    assert {who for _, who in runs} <= {"tuner0", "tuner1"}, "the chief must not train"
    trials = _trials(directory)
    assert sorted(trials) == ["0", "1", "2"]
    assert all(t["status"] == "COMPLETED" and t["score"] is not None for t in trials.values())
    assert (directory / tune.PROJECT / "chief.json").exists()
    assert len(_rows(directory)) == 3 and (directory / "best_model.keras").exists()
