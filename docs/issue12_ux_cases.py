"""Bad inputs of issue 12 (findings 5, 8, 9), run against one checkout of tfconv.

    python docs/issue12_ux_cases.py /path/to/checkout WORKDIR

Trains one small standardised run with that checkout, then runs each case as
a `python -m tfconv.cli ...` subprocess and classifies the outcome:

- clear: the expected exit status (2 usage, 1 failure; 0 where success is
  right) with tfconv's own one-line message and no traceback;
- traceback: a Python traceback on stderr;
- silent: exit 0 where the input should have been refused, or a wrong answer.

Each case names what a correct outcome is. TensorFlow's C++ start-up lines
(`I0000 ...`, `E0000 ...`) are not counted as output.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np

CODE, WORK = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
ENV = {
    **os.environ,
    "PYTHONPATH": str(CODE),
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "TFCONV_DATA_DIR": os.environ.get("TFCONV_DATA_DIR", "/work/shared/data"),
}
NOISE = ("I0000", "E0000", "W0000", "WARNING: All log messages", "INFO: Created TensorFlow")


def tfconv(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    done = subprocess.run(
        # As the `tfconv` console script runs it (`python -m tfconv.cli` had a
        # traceback of its own before this change: its UsageError was __main__'s).
        [sys.executable, "-c", "import sys; from tfconv.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        cwd=WORK,
        env={**ENV, **(env or {})},
        timeout=900,
    )
    err = "\n".join(
        line for line in done.stderr.splitlines() if line.strip() and not line.startswith(NOISE)
    )
    return done.returncode, done.stdout, err


def png_header(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        return struct.pack(">I", len(body)) + kind + body + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    rc, _out, err = tfconv(
        "train",
        "--variant",
        "lenet_fast",
        "--standardize",
        "--epochs",
        "2",
        "--limit-train",
        "8192",
        "--limit-test",
        "1000",
        "--seed",
        "0",
        "--out",
        "run",
    )
    assert rc == 0, err
    sys.path.insert(0, str(CODE))
    from PIL import Image

    from tfconv import data

    data.get_info("fashion_mnist")
    _, (x_test, _y_test) = data.load("fashion_mnist")
    Image.fromarray(x_test[0]).save(WORK / "img0.png")  # an ankle boot
    (WORK / "file.txt").write_text("x")
    png_header(WORK / "huge.png", 30000, 30000)
    (WORK / "notimage.png").write_text("hello")
    (WORK / "lone").mkdir()
    shutil.copy(WORK / "run" / "model.keras", WORK / "lone" / "lone.keras")
    shutil.copytree(WORK / "run", WORK / "corrupt", ignore=shutil.ignore_patterns("logs"))
    (WORK / "corrupt" / "metrics.json").write_text("{corrupt")

    # The reference answer for img0: the run's own predict (metrics.json intact).
    rc, ref_out, err = tfconv("predict", "run", "img0.png", "--top", "1")
    assert rc == 0, err
    ref_line = ref_out.splitlines()[1].split()
    ref_name, ref_prob = " ".join(ref_line[1:-1]), ref_line[-1]

    small = ["--epochs", "1", "--limit-train", "64", "--limit-test", "64", "--out", "bad"]
    cases = []

    def case(name, args, expect, env=None, check=None):
        rc, out, err = tfconv(*args, env=env)
        ours = [line for line in err.splitlines() if line.startswith("tfconv")]
        if "Traceback" in err:
            verdict = "traceback"
        elif check is not None:
            verdict = check(rc, out, err)
        elif expect == 0:
            verdict = "clear" if rc == 0 else f"failed rc={rc}"
        elif rc == 0:
            verdict = "silent"
        elif rc == expect and len(ours) == 1 and ours[0].count("\n") == 0:
            verdict = "clear"
        else:
            verdict = f"other rc={rc}"
        first = (ours or err.splitlines() or out.splitlines() or [""])[-1][:150]
        cases.append({"case": name, "rc": rc, "verdict": verdict, "says": first})

    case("export RUN --out file.txt/sub", ["export", "run", "--out", "file.txt/sub"], 2)
    case(
        "viz RUN --out file.txt/sub",
        ["viz", "run", "--what", "kernels", "--out", "file.txt/sub"],
        2,
    )
    case("export RUN --out /dev/null/sub", ["export", "run", "--out", "/dev/null/sub"], 2)
    case(
        "tune --dir file.txt/sub",
        [
            "tune",
            "--dir",
            "file.txt/sub",
            "--max-trials",
            "1",
            "--epochs",
            "1",
            "--limit-train",
            "64",
        ],
        2,
    )
    for flag, value in (
        ("--momentum", "5"),
        ("--momentum", "1.5"),
        ("--momentum", "-0.1"),
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--lr", "-1"),
        ("--lr", "1e400"),
    ):
        case(f"train {flag} {value}", ["train", *small, flag, value], 2)
    case("predict M huge.png (30000x30000)", ["predict", "run", "huge.png"], 2)
    case("predict M notimage.png", ["predict", "run", "notimage.png"], 2)
    case("predict M missing.png", ["predict", "run", "missing.png"], 2)
    case("predict missing.keras img", ["predict", "missing.keras", "img0.png"], 2)
    # Another source holds the data too (as Debian's package would): a Keras cache.
    cache = WORK / "keras_home" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for f in data.get_info("fashion_mnist").files.values():
        shutil.copy(Path(ENV["TFCONV_DATA_DIR"]) / "fashion-mnist" / f, cache / f)
    keras_home = {"KERAS_HOME": str(WORK / "keras_home")}
    case(
        "train --data-dir /typo (Keras cache has the data)",
        ["train", *small, "--data-dir", "/typo"],
        2,
        env=keras_home,
    )
    case(
        "TFCONV_DATA_DIR=/typo train (Keras cache has it)",
        ["train", *small],
        2,
        env={"TFCONV_DATA_DIR": "/typo", **keras_home},
    )
    case(
        "train --data-dir D --source keras",
        ["train", *small, "--data-dir", ENV["TFCONV_DATA_DIR"], "--source", "keras"],
        2,
        env=keras_home,
    )
    case("KERAS_BACKEND=numpy train", ["train", *small], 1, env={"KERAS_BACKEND": "numpy"})

    def same_answer(rc, out, err):
        if rc != 0:
            return f"failed rc={rc}"
        line = out.splitlines()[1].split()
        name, prob = " ".join(line[1:-1]), line[-1]
        return "clear" if (name, prob) == (ref_name, ref_prob) else "silent"

    case(
        "predict lone.keras (copied out of the run)",
        ["predict", "lone/lone.keras", "img0.png", "--top", "1"],
        0,
        check=same_answer,
    )

    def export_uses_standardisation(rc, out, err):
        if rc != 0:
            return "clear" if rc in (1, 2) and "metrics.json" in err else f"failed rc={rc}"
        report = json.loads((WORK / "corrupt" / "export" / "export_report.json").read_text())
        return "clear" if report["input"]["preprocessing"] != "x / 255" else "silent"

    case(
        "export RUN with a corrupt metrics.json",
        ["export", "corrupt", "--format", "tflite", "--limit-test", "200", "--latency-runs", "0"],
        0,
        check=export_uses_standardisation,
    )

    def quiet(rc, out, err):
        lines = [line for line in (out + "\n" + err).splitlines() if line.strip()]
        return "clear" if rc == 0 and not lines else f"not silent ({len(lines)} lines)"

    case(
        "train --verbose 0 (2 epochs)",
        [
            "train",
            "--variant",
            "lenet_fast",
            "--epochs",
            "2",
            "--limit-train",
            "256",
            "--limit-test",
            "64",
            "--out",
            "quiet",
            "--verbose",
            "0",
        ],
        0,
        check=quiet,
    )

    # Parsing only, so that no benchmark runs: accepted means silently ignored.
    parse = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tfconv import cli; "
            "cli.build_parser().parse_args(['bench', '--dataset', 'mnist', '--source', 'dir'])",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=WORK,
    )
    cases.append(
        {
            "case": "bench --dataset mnist --source dir (parse)",
            "rc": parse.returncode,
            "verdict": "clear" if parse.returncode == 2 else "silent (accepted, ignored)",
            "says": (parse.stderr.strip().splitlines() or [""])[-1][:150],
        }
    )

    # A killed export's leftover, then a second export into the same folder.
    leftover = WORK / "run" / "export" / ".saved_model.abcd1234.tmp"
    (leftover / "variables").mkdir(parents=True)
    case(
        "export after a killed export (leftover .tmp)",
        ["export", "run", "--format", "savedmodel", "--no-verify"],
        0,
        check=lambda rc, out, err: (
            "clear" if rc == 0 and not leftover.exists() else "silent (leftover kept)"
        ),
    )

    counts: dict[str, int] = {}
    for c in cases:
        kind = c["verdict"].split()[0]
        counts[kind] = counts.get(kind, 0) + 1
        print(f"{c['verdict']:28s} rc={c['rc']:<3d} {c['case']:46s} | {c['says']}")
    print(json.dumps({"tried": len(cases), **counts}))
    np.save(WORK / "done.npy", np.zeros(1))


if __name__ == "__main__":
    main()
