"""The KerasTuner internals `tfconv.tune.oracles` relies on are all still there.

`tfconv.tune.oracles` overrides private KerasTuner methods and reads private
attributes so that a search can be killed and resumed; `pyproject.toml` pins
`keras-tuner>=1.4.7,<1.5` for that reason. If a KerasTuner release drops or
changes one of them, these tests fail naming it, rather than resume breaking
silently.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import keras_tuner
import pytest

from tfconv import tune
from tfconv.tune import oracles

PIN = "keras-tuner>=1.4.7,<1.5 (pyproject.toml)"
KINDS = {"module", "function", "class", "method", "property", "attribute"}


def _instance(cls: type, tmp_path: Path):
    """An instance of `cls` (or of a concrete subclass) as `__init__` leaves it."""
    from keras_tuner.src.distribute import oracle_chief
    from keras_tuner.src.engine import base_tuner, oracle, trial
    from keras_tuner.src.tuners import gridsearch

    objective = keras_tuner.Objective(tune.OBJECTIVE, direction="max")
    if cls is oracle.Oracle:
        return keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=1)
    if cls is gridsearch.GridSearchOracle:
        return cls(objective=objective, max_trials=1)
    if cls is base_tuner.BaseTuner:
        return tune.make_tuner(tune.LeNetHyperModel(), "random", directory=tmp_path)
    if cls is trial.Trial:
        return cls(keras_tuner.HyperParameters(), trial_id="0")
    if cls is oracle_chief.OracleServicer:
        return cls(keras_tuner.oracles.RandomSearchOracle(objective=objective, max_trials=1))
    raise AssertionError(f"test_tune_internals has no instance of {cls!r}: add one")


def _ids(entry: tuple[str, str, str]) -> str:
    return f"{entry[0]}:{entry[1]}"


def test_the_pin_covers_the_installed_version():
    major, minor = (int(v) for v in keras_tuner.__version__.split(".")[:2])
    assert (major, minor) == (1, 4), (
        f"keras_tuner {keras_tuner.__version__} is installed, outside {PIN}: check every "
        "name in tfconv.tune.oracles.KERAS_TUNER_INTERNALS against it, then move the pin"
    )
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert '"keras-tuner>=1.4.7,<1.5"' in pyproject and '"keras>=3.13,<4"' in pyproject


@pytest.mark.parametrize("entry", oracles.KERAS_TUNER_INTERNALS, ids=_ids)
def test_private_name_is_still_there(entry, tmp_path):
    module_name, dotted, kind = entry
    where = f"{module_name}:{dotted} ({kind})"
    assert kind in KINDS, f"unknown kind in KERAS_TUNER_INTERNALS: {where}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        pytest.fail(f"KerasTuner no longer has the module {module_name} ({err}); {PIN}")
    if kind == "module":
        return
    owner_name, _, name = dotted.rpartition(".")
    owner = module
    for part in filter(None, owner_name.split(".")):
        owner = getattr(owner, part, None)
        assert inspect.isclass(owner), f"KerasTuner no longer has {where}: {part} is gone; {PIN}"
    if kind == "attribute":
        instance = _instance(owner, tmp_path)
        assert name in vars(instance), (
            f"KerasTuner's {owner.__name__}.__init__ no longer sets {name}: {where}; {PIN}"
        )
        return
    found = inspect.getattr_static(owner, name, None)
    assert found is not None, f"KerasTuner no longer has {where}; {PIN}"
    if kind == "method":
        target = found.__func__ if isinstance(found, (classmethod, staticmethod)) else found
        ok = inspect.isfunction(target)
    elif kind == "property":
        ok = isinstance(found, property)
    elif kind == "class":
        ok = inspect.isclass(found)
    else:
        ok = inspect.isfunction(found)
    assert ok, f"KerasTuner's {where} is now {type(found).__name__}, not a {kind}; {PIN}"


def test_every_private_name_oracles_uses_is_listed():
    # The names oracles.py reaches on KerasTuner objects (`self._x`,
    # `super()._x`, `oracle._x`), less the helpers it defines itself.
    source = Path(oracles.__file__).read_text()
    used = set(re.findall(r"(?:self|super\(\)|oracle)\.(_[a-z]\w*)", source))
    own = set(re.findall(r"def (_[a-z]\w*)", source))
    listed = {dotted.rpartition(".")[2] for _, dotted, _ in oracles.KERAS_TUNER_INTERNALS}
    missing = sorted(used - own - listed)
    assert not missing, (
        f"tfconv/tune/oracles.py uses KerasTuner's private {missing} without listing them "
        "in KERAS_TUNER_INTERNALS (so no test checks them against the pin)"
    )
    assert "keras_tuner.src" not in "".join(
        p.read_text() for p in Path(oracles.__file__).parent.glob("*.py") if p.name != "oracles.py"
    ), "only tfconv/tune/oracles.py may import keras_tuner.src"
