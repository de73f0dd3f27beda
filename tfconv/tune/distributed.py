"""A distributed search on one machine: which part this process plays (KerasTuner's
environment variables), and `launch_distributed`, which starts a chief and its
workers as subprocesses and relays their output.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# Not `-m tfconv.cli`: as `__main__`, the CLI's UsageError would be a different
# class from the one the subcommands raise, and escape as a traceback.
_CLI_CODE = "import sys; from tfconv.cli import main; sys.exit(main(sys.argv[1:]))"


def role() -> str:
    """`"chief"`, `"worker"` or `"single"`, from KerasTuner's environment variables.

    KerasTuner's rule: `KERASTUNER_ORACLE_IP` makes a process part of a
    distributed search, and a `KERASTUNER_TUNER_ID` containing `chief` makes
    it the chief.

    Raises:
        ValueError: If `KERASTUNER_ORACLE_IP` is set without the other two.
    """
    env = os.environ
    if "KERASTUNER_ORACLE_IP" not in env:
        return "single"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if v not in env]
    if missing:
        raise ValueError(
            f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} is not: a distributed "
            "search needs all three. Received: "
            f"KERASTUNER_ORACLE_IP={env['KERASTUNER_ORACLE_IP']!r}"
        )
    return "chief" if "chief" in env["KERASTUNER_TUNER_ID"] else "worker"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _pump(stream: Any, prefix: str, lock: threading.Lock) -> None:
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip("\r\n")
        with lock:
            print(f"[{prefix}] {line}", flush=True)
    stream.close()


class _Participants:
    """The chief's and workers' subprocesses and the threads relaying their output."""

    def __init__(self, argv: Sequence[str], port: int) -> None:
        self.cmd = [sys.executable, "-c", _CLI_CODE, *argv]
        self.port = port
        self.procs: dict[str, subprocess.Popen] = {}
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def start(self, name: str, ip: str) -> None:
        env = dict(
            os.environ,
            KERASTUNER_TUNER_ID=name,
            KERASTUNER_ORACLE_IP=ip,
            KERASTUNER_ORACLE_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
        )
        proc = subprocess.Popen(
            self.cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        thread = threading.Thread(target=_pump, args=(proc.stdout, name, self.lock), daemon=True)
        thread.start()
        self.threads.append(thread)

    def failed_workers(self) -> list[str]:
        return [n for n, p in self.procs.items() if n != "chief" and p.poll() not in (None, 0)]

    def wait_all(self) -> None:
        for proc in self.procs.values():
            proc.wait()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def join_relays(self) -> None:
        for thread in self.threads:
            thread.join(timeout=5)


def launch_distributed(
    argv: Sequence[str],
    workers: int,
    oracle_ip: str = "127.0.0.1",
    oracle_port: int | None = None,
    print_fn: Callable[[str], None] = print,
) -> int:
    """Runs a chief and `workers` workers of `tfconv ARGV` on this machine.

    Each is a subprocess running `tfconv ARGV` with KerasTuner's
    environment variables (`KERASTUNER_TUNER_ID` `chief` or `tuner<i>`,
    `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`); their output is
    printed line by line behind `[chief]`, `[tuner0]`, .... Workers on other
    machines that share the search folder join with the same command and
    variables (the chief must then listen on an address they can reach).

    Args:
        argv: The `tfconv` arguments of one participant (`tune ...`).
        workers: Local workers to start (0: only the chief).
        oracle_ip: The address the chief listens on.
        oracle_port: Its port (default: a free one).
        print_fn: Where the launcher's own lines go.

    Returns:
        The chief's exit status, or 1 if a worker failed.
    """
    connect_ip = "127.0.0.1" if oracle_ip == "0.0.0.0" else oracle_ip
    port = oracle_port or free_port(connect_ip)
    print_fn(
        f"tfconv tune: chief on {oracle_ip}:{port} and {workers} local worker(s); more can "
        f"join with KERASTUNER_TUNER_ID=tuner<N> KERASTUNER_ORACLE_IP=<this host> "
        f"KERASTUNER_ORACLE_PORT={port} tfconv {' '.join(argv)}"
    )
    group = _Participants(argv, port)
    group.start("chief", oracle_ip)
    for i in range(workers):
        group.start(f"tuner{i}", connect_ip)
    try:
        return _supervise(group, print_fn)
    except KeyboardInterrupt:
        group.stop_all()
        raise
    finally:
        group.join_relays()


def _supervise(group: _Participants, print_fn: Callable[[str], None]) -> int:
    """Waits for the chief; stops everyone as soon as the chief or a worker fails."""
    while True:
        chief = group.procs["chief"].poll()
        if chief is not None:
            if chief == 0:
                # Workers finish before the chief does.
                group.wait_all()
                return 0
            # Workers still running after a failed chief would wait for it for an hour.
            group.stop_all()
            return chief
        failed = group.failed_workers()
        if failed:
            # A worker's unfinished trial would keep the chief waiting for
            # ever; rerun the same command to resume (it is retried).
            print_fn(
                f"tfconv tune: worker(s) {', '.join(failed)} failed; stopping the "
                "search. Run the same command again to resume it."
            )
            group.stop_all()
            return 1
        time.sleep(0.2)
