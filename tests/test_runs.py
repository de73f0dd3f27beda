"""Run folders as transactions: manifest guard, lock, atomic outputs, exact resume."""

from __future__ import annotations

import csv
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import child_env

from tfconv import cli, train
from tfconv.train import run_folder as runs

pytestmark = pytest.mark.usefixtures("real_data")


# A few seconds per run on two CPU cores.
TINY = ["--limit-train", "256", "--limit-test", "128", "--batch-size", "64", "--verbose", "0"]
SNAPSHOT = ("model.keras", "metrics.json", "history.csv", "curves.png", "run.json")
# Columns and keys that measure time, not what was computed.
TIMING_COLUMNS = ("seconds", "examples_per_sec")
TIMING_KEYS = ("wall_seconds", "examples_per_sec", "examples_per_sec_after_first", "command")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in SNAPSHOT}


def _interrupt_after_epochs(n: int):
    import keras

    class Interrupt(keras.callbacks.Callback):
        # Runs after tfconv's own callbacks, so epoch n's resume state is saved.
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == n:
                raise KeyboardInterrupt

    return Interrupt()


def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class TestManifest:
    def test_resume_refuses_changed_settings(self, data_root, tmp_path, capsys):
        out = tmp_path / "run"
        config = train.TrainConfig(epochs=2, limit_train=256, limit_test=128, batch_size=64)
        with pytest.raises(KeyboardInterrupt):
            train.train(
                config,
                out=out,
                print_fn=lambda _: None,
                extra_callbacks=[_interrupt_after_epochs(1)],
            )
        assert not (out / "metrics.json").exists()
        base = ["train", "--epochs", "2", *TINY, "--out", str(out)]

        # A changed learning rate: refused, naming the setting and the ways out.
        code, _, err = _cli([*base, "--lr", "0.01"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "lr: 0.9 -> 0.01" in err and "--out NEW" in err and "--overwrite" in err
        # Another variant: the same one line, no traceback.
        code, _, err = _cli([*base, "--variant", "lenet_wide"], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "variant: 'lenet' -> 'lenet_wide'" in err
        # A setting that does not change results (verbosity) may change.
        code, out_text, err = _cli([*base, "--verbose", "2"], capsys)
        assert code == 0, err
        assert "epoch 1/2" not in out_text and "epoch 2/2" in out_text  # resumed, not restarted
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["lr"] == 0.9 and metrics["epochs"] == 2
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["state"] == "complete" and manifest["settings"]["lr"] == 0.9
        assert not (out / ".work").exists()

    def test_finished_run_is_kept_unless_overwrite(self, data_root, tmp_path, capsys):
        out = tmp_path / "run"
        base = ["train", "--epochs", "1", *TINY, "--out", str(out)]
        assert _cli(base, capsys)[0] == 0
        before = _snapshot(out)
        stamps = {name: (out / name).stat().st_mtime_ns for name in SNAPSHOT}

        code, text, err = _cli(base, capsys)
        assert code == 0 and "already finished" in text, err
        code, _, err = _cli([*base, "--variant", "lenet_relu"], capsys)
        assert code == 2 and "variant: 'lenet' -> 'lenet_relu'" in err
        assert len(err.strip().splitlines()) == 1
        assert _snapshot(out) == before
        assert {name: (out / name).stat().st_mtime_ns for name in SNAPSHOT} == stamps

        code, _, err = _cli([*base, "--variant", "lenet_relu", "--overwrite"], capsys)
        assert code == 0, err
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["config"]["variant"] == "lenet_relu"
        assert json.loads((out / "run.json").read_text())["settings"]["variant"] == "lenet_relu"

    def test_default_out_is_per_variant(self, data_root, tmp_path, monkeypatch, capsys):
        monkeypatch.chdir(tmp_path)
        code, text, err = _cli(
            ["train", "--variant", "lenet_relu", "--epochs", "1", *TINY], capsys
        )
        assert code == 0, err
        assert text == ""  # --verbose 0; the folder is checked below
        manifest = json.loads((tmp_path / "saved_models/lenet_relu/run.json").read_text())
        assert manifest["settings"]["variant"] == "lenet_relu"
        assert not (tmp_path / "saved_models/lenet").exists()

    def test_failed_run_leaves_no_folder(self, tmp_path, capsys):
        # Data that fails its checks once the run folder exists.
        corrupt = tmp_path / "data" / "fashion-mnist"
        corrupt.mkdir(parents=True)
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
            (corrupt / f"{name}.gz").write_bytes(b"not gzip")
        out = tmp_path / "new" / "run"
        argv = ["train", "--epochs", "1", "--source", "dir", "--data-dir", str(corrupt.parent)]
        code, _, err = _cli([*argv, "--out", str(out)], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "new").exists()


class TestLock:
    def test_second_process_exits_2_at_once(self, data_root, tmp_path, capsys):
        out = tmp_path / "run"
        holder = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(f"""
                import sys, time
                from tfconv.train import run_folder
                run_folder.RunFolder({str(out)!r}).acquire()
                print("locked", flush=True)
                time.sleep(600)
            """)],
            env=child_env(data_root), stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout.readline().strip() == "locked"
            start = time.monotonic()
            code, _, err = _cli(["train", "--epochs", "1", *TINY, "--out", str(out)], capsys)
            assert code == 2 and len(err.strip().splitlines()) == 1, err
            assert f"Another process (pid {holder.pid})" in err
            # Refused before any data is read or model built.
            assert time.monotonic() - start < 5
            assert not (out / "run.json").exists() and not (out / ".work").exists()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        # The kernel released the dead holder's lock.
        folder = runs.RunFolder(out)
        folder.acquire()
        folder.close(failed=False)


class TestSnapshot:
    def test_failed_write_keeps_previous_outputs_and_resume_state(
        self, data_root, tmp_path, monkeypatch, capsys
    ):
        from tfconv.train import curves

        out = tmp_path / "run"
        base = ["train", "--epochs", "1", *TINY, "--out", str(out)]
        assert _cli(base, capsys)[0] == 0
        before = _snapshot(out)

        def disk_full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(curves, "save_figure", disk_full)
        code, _, err = _cli([*base, "--lr", "0.5", "--overwrite"], capsys)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert "No space left on device" in err
        assert _snapshot(out) == before  # the previous run, whole
        assert not (out / runs.STAGING).exists() and not (out / runs.READY).exists()
        assert (out / ".work" / "ckpt").is_dir()  # the finished epochs are kept

        monkeypatch.undo()
        monkeypatch.setenv("TFCONV_DATA_DIR", str(data_root))
        code, _, err = _cli([*base, "--lr", "0.5"], capsys)
        assert code == 0, err
        assert json.loads((out / "metrics.json").read_text())["config"]["lr"] == 0.5
        assert not (out / ".work").exists()

    def test_commit_is_rolled_forward_and_temporaries_removed(self, tmp_path):
        out = tmp_path / "run"
        out.mkdir()
        for name in SNAPSHOT:
            (out / name).write_text(f"old {name}")
        # A process killed after the commit point, with two files moved.
        ready = out / runs.READY
        ready.mkdir()
        for name in SNAPSHOT[2:]:
            (ready / name).write_text(f"new {name}")
        for name in SNAPSHOT[:2]:
            (out / name).write_text(f"new {name}")
        (out / runs.STAGING).mkdir()
        (out / ".metrics.json.abc123.tmp").write_text("partial")
        folder = runs.RunFolder(out)
        folder.acquire()
        folder.close(failed=False)
        assert {name: (out / name).read_text() for name in SNAPSHOT} == {
            name: f"new {name}" for name in SNAPSHOT
        }
        assert sorted(p.name for p in out.iterdir()) == sorted(SNAPSHOT)


def _history_without_timing(folder: Path) -> list[dict[str, str]]:
    with (folder / "history.csv").open() as f:
        return [
            {k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)
        ]


def _weights(folder: Path) -> list[np.ndarray]:
    import keras

    return keras.models.load_model(folder / "model.keras").get_weights()


# SIGKILLs itself after batch 3 of epoch 2, as a lost machine would.
_KILLED_RUN = """
import os, signal, sys
import keras
from tfconv import cli, train

class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)

real = train.train
train.train = lambda *a, **k: real(*a, extra_callbacks=[Kill()], **k)
sys.exit(cli.main(sys.argv[1:]))
"""


class TestExactResume:
    def test_sigkill_mid_epoch_then_resume_is_bit_exact(self, data_root, tmp_path, capsys):
        # Momentum, a cosine schedule and augmentation: optimizer state, the
        # learning rate's step and the per-epoch randomness must all resume.
        recipe = ["--epochs", "3", "--lr", "0.1", "--momentum", "0.9", "--schedule", "cosine",
                  "--augment", "--deterministic", "--seed", "3", *TINY]  # fmt: skip
        killed = tmp_path / "killed"
        proc = subprocess.run(
            [sys.executable, "-c", _KILLED_RUN, "train", *recipe, "--out", str(killed)],
            env=child_env(data_root), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
        assert not (killed / "model.keras").exists()
        rows = json.loads((killed / ".work" / "history.json").read_text())
        assert [r["epoch"] for r in rows] == [1]  # killed inside epoch 2

        code, _, err = _cli(["train", *recipe, "--out", str(killed)], capsys)
        assert code == 0, err
        reference = tmp_path / "reference"
        code, _, err = _cli(["train", *recipe, "--out", str(reference)], capsys)
        assert code == 0, err

        for got, want in zip(_weights(killed), _weights(reference), strict=True):
            assert np.array_equal(got, want)
        assert _history_without_timing(killed) == _history_without_timing(reference)
        got, want = (json.loads((f / "metrics.json").read_text()) for f in (killed, reference))
        for key in TIMING_KEYS:
            got.pop(key), want.pop(key)
        assert got == want
        assert [int(r["epoch"]) for r in _history_without_timing(killed)] == [1, 2, 3]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


# One worker of a two-worker job: records the epochs it runs and its weights.
_WORKER = """
import json, os, signal, sys
import keras, numpy as np
from tfconv import train

out, index, kill_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
begun = []

class Record(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        begun.append(epoch)

cfg = train.TrainConfig(strategy="multiworker", epochs=2, limit_train=256, limit_test=128,
                        batch_size=64, verbose=0, deterministic=True)
result = train.train(cfg, out=out, print_fn=lambda _: None, extra_callbacks=[Record()])
weights = np.concatenate([w.ravel() for w in result.model.get_weights()])
np.save(os.path.join(os.path.dirname(out), f"weights{index}.npy"), weights)
print(json.dumps({"begun": begun, "status": result.status}))
"""


class TestMultiWorkerResume:
    def _start(self, data_root, out, ports, kill_at):
        procs = []
        for index in range(2):
            env = child_env(data_root)
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                    "task": {"type": "worker", "index": index},
                }
            )
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", _WORKER, str(out), str(index), str(kill_at[index])],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        return procs

    def test_killed_worker_then_restarted_job_resumes_on_every_worker(self, data_root, tmp_path):
        out = tmp_path / "run"
        ckpt_state = out / ".work" / "ckpt" / "checkpoint"
        # Attempt 1: worker 1 dies as epoch 2 begins; the chief then waits
        # for it in vain and is stopped too (the job is lost).
        procs = self._start(data_root, out, _free_ports(2), kill_at=(-1, 1))
        try:
            assert procs[1].wait(timeout=180) == -signal.SIGKILL, procs[1].stderr.read()[-3000:]
            deadline = time.monotonic() + 60
            while not ckpt_state.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ckpt_state.exists(), "the chief saved no checkpoint after epoch 1"
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                p.wait()
        # Attempt 2: the whole job again, on fresh ports.
        procs = self._start(data_root, out, _free_ports(2), kill_at=(-1, -1))
        reports = []
        try:
            for p in procs:
                stdout, stderr = p.communicate(timeout=180)
                assert p.returncode == 0, stderr[-3000:]
                reports.append(json.loads(stdout.strip().splitlines()[-1]))
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
        assert [r["begun"] for r in reports] == [[1], [1]]  # both resumed at epoch 2
        assert [r["status"] for r in reports] == ["resumed", "resumed"]
        assert np.array_equal(
            np.load(tmp_path / "weights0.npy"), np.load(tmp_path / "weights1.npy")
        )
        with (out / "history.csv").open() as f:
            assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2]
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["replicas"] == 2 and metrics["strategy"] == "multiworker"
        # The chief writes TensorBoard logs; no worker leaves a scratch folder.
        assert any((out / "logs").rglob("events.out.tfevents.*"))
        assert not (out / ".work").exists()
