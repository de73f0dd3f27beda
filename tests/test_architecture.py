"""The package's shape: data flows one way, nothing happens on import, rooms stay small.

These tests read the source (imports, sizes, docstrings) and import every
module, so that a cycle, an import-time side effect or a 1,000-line module
fails CI instead of waiting for a reviewer.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tfconv"

# The rooms of the package, left to right: a room may import only from rooms
# of the same or a lower rank (README's layout paragraph draws the same flow).
RANKS = {
    "tfconv": 0,  # the root: version, backend check, lazy submodules
    "utils": 0,
    "testing": 0,
    "_backend": 0,
    "_core": 1,
    "ops": 2,
    "layers": 2,
    "models": 3,
    "data": 4,
    "train": 5,
    "tune": 6,
    "export": 6,
    "viz": 6,
    "chapter": 6,
    "bench": 7,
    "cli": 8,
    "__main__": 9,
}

# Lines a module, or a function without its docstring, may reach before it
# must say why it is long.
MODULE_LINES = 400
FUNCTION_LINES = 60
WHY_LONG = "Why long:"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))
SOURCES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "tfconv"


def _resolve(name: str) -> str:
    """The tfconv module an import names (a package's `__init__` for its attributes)."""
    while name not in SOURCES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports_in(source: str, module: str, is_package: bool) -> set[str]:
    """Every tfconv module `source` imports, at module level or inside functions."""
    package = module if is_package else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {_resolve(a.name) for a in node.names if a.name.split(".")[0] == "tfconv"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            if base.split(".")[0] != "tfconv":
                continue
            for alias in node.names:
                found.add(_resolve(f"{base}.{alias.name}"))
    found.discard(module)
    return found


def _imports(module: str) -> set[str]:
    path = SOURCES[module]
    return _imports_in(path.read_text(), module, path.name == "__init__.py")


GRAPH = {m: _imports(m) for m in MODULES}


class TestLayering:
    def test_every_room_has_a_rank(self):
        assert {_room(m) for m in MODULES} <= set(RANKS), (
            "A new top-level module or package needs its place in RANKS "
            "(and in README's layout paragraph)."
        )

    @pytest.mark.parametrize("module", MODULES)
    def test_imports_only_flow_left(self, module):
        rank = RANKS[_room(module)]
        upward = sorted(m for m in GRAPH[module] if RANKS[_room(m)] > rank)
        assert not upward, f"{module} (rank {rank}) imports rooms to its right: {upward}"

    def test_rooms_of_one_rank_do_not_import_each_other_both_ways(self):
        rooms: dict[str, set[str]] = {}
        for module, targets in GRAPH.items():
            rooms.setdefault(_room(module), set()).update(_room(t) for t in targets)
        pairs = sorted(
            (a, b) for a in rooms for b in rooms[a] if a < b and a in rooms.get(b, set())
        )
        assert not pairs, f"rooms importing each other: {pairs}"

    def test_no_module_cycles(self):
        # Depth-first search for a back edge; reports one cycle by name.
        state: dict[str, int] = {}
        path: list[str] = []

        def visit(node: str) -> list[str] | None:
            state[node] = 1
            path.append(node)
            for nxt in sorted(GRAPH.get(node, ())):
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if nxt not in state and (cycle := visit(nxt)):
                    return cycle
            state[node] = 2
            path.pop()
            return None

        for module in MODULES:
            if module not in state:
                cycle = visit(module)
                assert cycle is None, "import cycle: " + " -> ".join(cycle)

    def test_the_checker_sees_imports_inside_functions(self):
        # The kind of import that once hid a train <-> viz cycle, and a
        # relative one.
        source = "def f():\n    from tfconv import viz\n    from .. import data\n"
        assert _imports_in(source, "tfconv.train.run", False) == {"tfconv.viz", "tfconv.data"}


# Imports each module with no other tfconv module loaded, in one fresh
# interpreter: every tfconv module is dropped from `sys.modules` before the
# next import, so a module that only works after another one was imported
# fails here. (A fresh interpreter per module would pay TensorFlow's start-up
# about 70 times; third-party modules stay loaded, tfconv's do not.) It also
# records what each import changed that it must not: the matplotlib backend,
# the Keras dtype policy, environment variables, files in the working folder
# and output on stdout.
_IMPORT_EACH = textwrap.dedent(
    """
    import contextlib, importlib, io, json, os, sys
    import matplotlib
    matplotlib.use("svg")
    import keras
    modules = json.loads(sys.argv[1])
    results = {}

    def state():
        return {
            "backend": matplotlib.get_backend(),
            "policy": keras.config.dtype_policy().name,
            "environ": dict(os.environ),
            "files": sorted(os.listdir(".")),
        }

    for name in modules:
        for loaded in [m for m in sys.modules if m == "tfconv" or m.startswith("tfconv.")]:
            del sys.modules[loaded]
        before = state()
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                importlib.import_module(name)
        except BaseException as err:
            results[name] = f"import failed: {type(err).__name__}: {err}"
            continue
        after = state()
        changed = [k for k in before if before[k] != after[k]]
        if out.getvalue():
            changed.append("stdout: " + out.getvalue()[:200])
        results[name] = "; ".join(changed)
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def import_report(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("import_each")
    env = dict(os.environ, PYTHONPATH=str(PACKAGE.parent), MPLBACKEND="")
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_EACH, json.dumps(MODULES)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


class TestImports:
    @pytest.mark.parametrize("module", MODULES)
    def test_imports_alone_without_side_effects(self, import_report, module):
        assert import_report[module] == "", f"importing {module}: {import_report[module]}"

    def test_the_report_would_see_a_side_effect(self, tmp_path):
        # The same script on a module that switches the backend on import.
        (tmp_path / "noisy.py").write_text("import matplotlib\nmatplotlib.use('Agg')\n")
        env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{PACKAGE.parent}")
        proc = subprocess.run(
            [sys.executable, "-c", _IMPORT_EACH, json.dumps(["noisy"])],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "backend" in json.loads(proc.stdout.strip().splitlines()[-1])["noisy"]


def _long_functions(module: str) -> list[tuple[str, int]]:
    source = SOURCES[module].read_text()
    lines = source.splitlines()
    long = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            body = node.body[0]
            head_end = body.lineno
            if isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant):
                # The docstring is not code: a 15-argument signature needs its Args.
                length -= body.end_lineno - body.lineno + 1
                head_end = body.end_lineno + 2
            # The reason goes in the docstring or in the comment that opens the body.
            head = "\n".join(lines[node.lineno - 1 : head_end])
            if length > FUNCTION_LINES and WHY_LONG not in head:
                long.append((node.name, length))
    return long


class TestSizes:
    @pytest.mark.parametrize("module", MODULES)
    def test_module_has_a_docstring(self, module):
        assert ast.get_docstring(ast.parse(SOURCES[module].read_text())), (
            f"{module} needs a docstring saying its one job"
        )

    @pytest.mark.parametrize("module", MODULES)
    def test_module_is_small_or_says_why(self, module):
        text = SOURCES[module].read_text()
        lines = len(text.splitlines())
        doc = ast.get_docstring(ast.parse(text)) or ""
        assert lines <= MODULE_LINES or WHY_LONG in doc, (
            f"{module} has {lines} lines; split it or say `{WHY_LONG}` in its docstring"
        )

    @pytest.mark.parametrize("module", MODULES)
    def test_functions_are_short_or_say_why(self, module):
        assert _long_functions(module) == [], (
            f"functions over {FUNCTION_LINES} lines in {module} without `{WHY_LONG}` "
            "in their docstring or first comment"
        )
