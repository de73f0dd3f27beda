"""Every use of KerasTuner's private internals, in one place: the oracle and tuner
subclasses that make a search safe to kill and resume, keep to a parameter
budget, and serve the oracle to workers.

Each override names the upstream bug or limitation it works around.
`KERAS_TUNER_INTERNALS` lists every private name used here;
`tests/test_tune_internals.py` checks them against the installed KerasTuner,
which `pyproject.toml` pins below its next minor release.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner
from keras_tuner.engine.trial import Trial, TrialStatus

from tfconv.tune.config import OBJECTIVE, PROJECT
from tfconv.tune.distributed import role
from tfconv.utils import fileio
from tfconv.utils.errors import ConfigError

# The private KerasTuner names this module relies on, as (module, dotted name,
# kind). Kinds: "module"; "function" and "class" (module-level); "method" and
# "property" (looked up on the class); "attribute" (set on an instance by
# `__init__`). A KerasTuner that drops or changes one breaks resume silently,
# so the test reads this tuple and fails naming the symbol.
KERAS_TUNER_INTERNALS: tuple[tuple[str, str, str], ...] = (
    ("keras_tuner.src.engine.oracle", "Oracle._save_trial", "method"),
    ("keras_tuner.src.engine.oracle", "Oracle._get_oracle_fname", "method"),
    ("keras_tuner.src.engine.oracle", "Oracle._get_trial_dir", "method"),
    ("keras_tuner.src.engine.oracle", "Oracle._random_values", "method"),
    ("keras_tuner.src.engine.oracle", "Oracle._duplicate", "method"),
    ("keras_tuner.src.engine.oracle", "Oracle._project_dir", "property"),
    ("keras_tuner.src.engine.oracle", "Oracle._retry_queue", "attribute"),
    ("keras_tuner.src.engine.oracle", "Oracle.ongoing_trials", "attribute"),
    ("keras_tuner.src.engine.oracle", "Oracle.trials", "attribute"),
    ("keras_tuner.src.engine.oracle", "Oracle.hyperparameters", "attribute"),
    ("keras_tuner.src.tuners.gridsearch", "GridSearchOracle._get_next_combination", "method"),
    ("keras_tuner.src.tuners.gridsearch", "GridSearchOracle._compare", "method"),
    ("keras_tuner.src.tuners.gridsearch", "GridSearchOracle._ordered_ids", "attribute"),
    ("keras_tuner.src.tuners.gridsearch", "GridSearchOracle._populate_next", "attribute"),
    ("keras_tuner.src.tuners.gridsearch", "LinkedList.insert", "method"),
    ("keras_tuner.src.engine.base_tuner", "BaseTuner._is_worker", "method"),
    ("keras_tuner.src.engine.base_tuner", "BaseTuner._get_tuner_fname", "method"),
    ("keras_tuner.src.engine.base_tuner", "BaseTuner.tuner_id", "attribute"),
    ("keras_tuner.src.engine.trial", "Trial.load", "method"),
    ("keras_tuner.src.engine.trial", "Trial.get_state", "method"),
    ("keras_tuner.src.engine.trial", "Trial.trial_id", "attribute"),
    ("keras_tuner.src.engine.trial", "Trial.status", "attribute"),
    ("keras_tuner.src.engine.trial", "Trial.message", "attribute"),
    ("keras_tuner.src.engine.trial", "Trial.score", "attribute"),
    ("keras_tuner.src.engine.trial", "Trial.metrics", "attribute"),
    ("keras_tuner.src.engine.trial", "Trial.hyperparameters", "attribute"),
    ("keras_tuner.engine.trial", "Trial", "class"),
    ("keras_tuner.engine.trial", "TrialStatus", "class"),
    ("keras_tuner.src.protos", "get_service_grpc", "function"),
    ("keras_tuner.src.distribute.oracle_chief", "OracleServicer", "class"),
    ("keras_tuner.src.distribute.oracle_chief", "OracleServicer.stop_triggered", "attribute"),
    ("keras_tuner.src.distribute.oracle_chief", "exit_chief", "function"),
)


# --------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------


class _OracleMixin:
    """Makes a KerasTuner oracle safe to kill at any moment, and budget-aware.

    `budget`, when set, says whether a candidate's values fit the parameter
    budget; proposals that do not are skipped.
    """

    budget: Callable[[dict[str, Any]], bool] | None = None

    # Upstream limitation (no issue filed): `Oracle.save` and `_save_trial`
    # write `oracle.json` and `trial.json` in place (`open(path, "w")`), so a
    # kill during a write leaves a truncated file that breaks the next reload.
    # Here every state file is written to a temporary name and renamed.
    def save(self) -> None:
        fileio.write_json_atomic(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial: Trial) -> None:
        path = os.path.join(self._get_trial_dir(trial.trial_id), "trial.json")
        fileio.write_json_atomic(path, trial.get_state())

    # Upstream `Oracle.reload` cannot resume a project killed at the wrong
    # moment: a `trial.json` it cannot parse raises (cf. keras-tuner#987), an
    # `ongoing_trials` entry without its trial file raises KeyError in
    # `set_state` (as in keras-tuner#301), and only the trials `oracle.json`
    # lists as ongoing are retried, so one already RUNNING in its
    # `trial.json` but killed before `oracle.json` was written is never run
    # again (no upstream issue found). Here an unreadable trial is marked
    # failed, dangling ongoing entries are dropped, and every RUNNING trial is
    # re-queued, once.
    def reload(self) -> None:
        self._load_trials()
        state = self._read_state()
        state["ongoing_trials"] = {
            tuner: trial_id
            for tuner, trial_id in state.get("ongoing_trials", {}).items()
            if trial_id in self.trials
        }
        self.set_state(state)
        self._requeue_running()

    def _load_trials(self) -> None:
        for path in sorted(Path(self._project_dir).glob("trial_*/trial.json")):
            try:
                trial = Trial.load(str(path))
            except (ValueError, KeyError, TypeError) as err:
                trial = self._failed_trial(path, err)
            self.trials[trial.trial_id] = trial

    def _failed_trial(self, path: Path, err: Exception) -> Trial:
        trial_id = path.parent.name[len("trial_") :]
        print(
            f"tfconv tune: {path} is unreadable ({type(err).__name__}); "
            f"trial {trial_id} is marked failed.",
            file=sys.stderr,
        )
        trial = Trial(self.hyperparameters.copy(), trial_id=trial_id)
        trial.status = TrialStatus.FAILED
        trial.message = f"trial.json was unreadable: {err}"
        self._save_trial(trial)
        return trial

    def _read_state(self) -> dict[str, Any]:
        try:
            return json.loads(Path(self._get_oracle_fname()).read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"The search state {self._get_oracle_fname()} cannot be read ({err}); "
                "use --overwrite to start the search over."
            ) from None

    def _requeue_running(self) -> None:
        # Trials that were running when the search stopped run again, whole.
        queued = set(self._retry_queue)
        for trial in self.ongoing_trials.values():
            if trial.status == TrialStatus.RUNNING and trial.trial_id not in queued:
                self._retry_queue.append(trial.trial_id)
                queued.add(trial.trial_id)
        self.ongoing_trials = {}
        for trial in self.trials.values():
            if trial.status == TrialStatus.RUNNING and trial.trial_id not in queued:
                self._retry_queue.append(trial.trial_id)

    # Upstream limitation: `_random_values` only avoids repeats; there is no
    # hook to reject a candidate (here: a model over `max_params`), so it is
    # resampled until it fits. The oracles that are not random fall back on
    # random values when they collide, so this covers them too.
    def _random_values(self) -> dict[str, Any] | None:
        values = super()._random_values()
        if self.budget is None:
            return values
        for _ in range(200):
            if values is None or self.budget(values):
                return values
            values = super()._random_values()
        return values


class RandomOracle(_OracleMixin, keras_tuner.oracles.RandomSearchOracle):
    """KerasTuner's random search, atomic and budget-aware."""


class BayesianOracle(_OracleMixin, keras_tuner.oracles.BayesianOptimizationOracle):
    """KerasTuner's Bayesian optimisation, atomic, budget-aware and never repeating."""

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        response = self._populate_with_one_blas_thread(trial_id)
        values = response.get("values")
        if response["status"] != TrialStatus.RUNNING or not values:
            return response
        # keras-tuner#608 and #227: the Gaussian process may propose a trial
        # already run, and it never sees failed trials, so it would propose an
        # oversized model again and again; such a proposal becomes a random one.
        if self._duplicate(values) or (self.budget is not None and not self.budget(values)):
            values = self._random_values()
            if values is None:
                return {"status": TrialStatus.STOPPED, "values": None}
            return {"status": TrialStatus.RUNNING, "values": values}
        return response

    def _populate_with_one_blas_thread(self, trial_id: str) -> dict[str, Any]:
        try:
            from threadpoolctl import threadpool_limits  # comes with scikit-learn
        except ImportError:
            return super().populate_space(trial_id)
        # The Gaussian process's matrices are tiny: extra BLAS threads only
        # spin, which slows a machine whose cores are busy training
        # (docs/bench/tune_bayesian_blas.md).
        with threadpool_limits(limits=1, user_api="blas"):
            return super().populate_space(trial_id)


class HyperbandOracle(_OracleMixin, keras_tuner.oracles.HyperbandOracle):
    """KerasTuner's Hyperband, atomic and budget-aware."""


class GridOracle(_OracleMixin, keras_tuner.oracles.GridSearchOracle):
    """KerasTuner's grid search, atomic, budget-aware and resumable."""

    # Upstream has no hook to skip a combination: step over the ones whose
    # model is over the parameter budget.
    def _get_next_combination(self, values: dict[str, Any]) -> dict[str, Any] | None:
        values = super()._get_next_combination(values)
        while values is not None and self.budget is not None and not self.budget(values):
            values = super()._get_next_combination(values)
        return values

    # keras-tuner#1055: `_ordered_ids` and `_populate_next` (the grid's
    # cursor) live only in memory, so a resumed grid search stops at once or
    # raises KeyError; rebuild both from the recorded trials.
    def reload(self) -> None:
        super().reload()
        tried = [t for t in self.trials.values() if t.hyperparameters.values]
        key = functools.cmp_to_key(
            lambda a, b: self._compare(a.hyperparameters.values, b.hyperparameters.values)
        )
        self._ordered_ids = type(self._ordered_ids)()
        for trial in sorted(tried, key=key):
            self._ordered_ids.insert(trial.trial_id)
        self._populate_next = [t.trial_id for t in sorted(tried, key=key)]


ORACLES = {
    "random": RandomOracle,
    "bayesian": BayesianOracle,
    "hyperband": HyperbandOracle,
    "grid": GridOracle,
}


# --------------------------------------------------------------------------
# Tuners
# --------------------------------------------------------------------------


def ensure_tuner_file(directory: Path, tuner_id: str) -> None:
    """Makes KerasTuner reload a project whose oracle state exists.

    Upstream limitation (no issue found; keras-tuner#976 is the chief's side
    of it): `BaseTuner.__init__` reloads a project only if this process's own
    `<tuner_id>.json` exists, though the oracle's state is in `oracle.json`;
    without this a chief resuming a search begun without one (e.g. begun as
    a single process, `tuner0`) would start over on top of it.
    """
    project = directory / PROJECT
    if (project / "oracle.json").exists() and not (project / f"{tuner_id}.json").exists():
        fileio.write_json_atomic(project / f"{tuner_id}.json", {})


class _TunerMixin:
    """Atomic state files, one line per trial, and a chief that exits promptly."""

    # Upstream limitation, as for the oracle: `BaseTuner.save` writes
    # `<tuner_id>.json` in place.
    def save(self) -> None:
        if not self._is_worker():
            self.oracle.save()
        fileio.write_json_atomic(self._get_tuner_fname(), self.get_state())

    def on_trial_begin(self, trial: Trial) -> None:
        super().on_trial_begin(trial)
        print(f"tfconv tune: trial {trial.trial_id} started ({self.tuner_id})", flush=True)

    def on_trial_end(self, trial: Trial) -> None:
        super().on_trial_end(trial)
        line = _trial_line(self.oracle.get_trial(trial.trial_id), trial)
        print(f"{line} ({self.tuner_id})", flush=True)

    # Upstream limitation: the chief's loop (`oracle_chief.start_server`)
    # checks for the end only every 20 seconds once stopping starts
    # (keras-tuner#983 proposes longer still) and ignores a port it cannot bind.
    def search(self, *fit_args: Any, **fit_kwargs: Any) -> None:
        if role() != "chief":
            super().search(*fit_args, **fit_kwargs)
            return
        try:
            from keras_tuner.src import protos  # noqa: F401
            from keras_tuner.src.distribute import oracle_chief  # noqa: F401
        except ImportError:  # a KerasTuner that moved them: its own, slower loop
            super().search(*fit_args, **fit_kwargs)
            return
        self.oracle.verbose = fit_kwargs.get("verbose", 1)
        # As upstream does since keras-tuner#977: the chief's state is saved
        # before serving, so that a rerun resumes it.
        self.save()
        _serve_oracle(self.oracle)


def _trial_line(ended: Trial, trial: Trial) -> str:
    """`trial <id> <status>, val_accuracy ..., <n> params, <s> s[: why it failed]`."""
    line = f"tfconv tune: trial {trial.trial_id} {str(ended.status).lower()}"
    if ended.score is not None:
        line += f", {OBJECTIVE} {ended.score:.4f}"
    metrics = ended.metrics
    if metrics.exists("num_params"):
        line += f", {int(metrics.get_last_value('num_params')):,} params"
    if metrics.exists("seconds"):
        line += f", {metrics.get_last_value('seconds'):.1f} s"
    if trial.message and ended.status != TrialStatus.COMPLETED:
        # KerasTuner keeps the whole traceback; its last line says why.
        line += f": {trial.message.strip().splitlines()[-1]}"
    return line


def _serve_oracle(oracle: Any) -> None:
    """KerasTuner's chief: serve the oracle over gRPC until every worker is done.

    Checks for the end twice a second, and says so when the port cannot be
    bound.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos
    from keras_tuner.src.distribute import oracle_chief

    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = oracle_chief.OracleServicer(oracle)
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise ConfigError(f"The chief cannot listen on {address} (port in use?).")
    server.start()
    print(f"tfconv tune: chief serving the oracle on {address}", flush=True)
    try:
        while not (servicer.stop_triggered and oracle_chief.exit_chief(oracle)):
            time.sleep(0.5)
    finally:
        server.stop(grace=2)


class Tuner(_TunerMixin, keras_tuner.Tuner):
    """KerasTuner's `Tuner` with the fixes above, for any of `ORACLES`."""


class HyperbandTuner(_TunerMixin, keras_tuner.Hyperband):
    """KerasTuner's `Hyperband` tuner (its epoch schedule) around our own oracle."""

    # Upstream limitation: `Hyperband.__init__` always builds its own
    # `HyperbandOracle`, so it is skipped for `Tuner.__init__`, which takes
    # ours; `Hyperband`'s other methods use only what `Tuner` sets.
    def __init__(self, oracle: Any, hypermodel: Any, **kwargs: Any) -> None:
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)
