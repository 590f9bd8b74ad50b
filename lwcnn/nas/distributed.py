"""A work queue on an Optuna study, so many workers on many machines can share one list of jobs
(training every network of a table, say) through one storage.

Each job is a small dict of JSON values (`{"code": "0-1-2", "seed": 0}`). `enqueue_jobs` adds
each job not yet in the study as a WAITING trial; every worker runs `run_worker`: take a waiting
job, train it, tell the result, until none waits; `collect` reads the finished ones back as rows.

    >>> study = open_study("sqlite:///:memory:", "squares", heartbeat_seconds=None)
    >>> enqueue_jobs(study, [{"x": 2}, {"x": 3}])
    2
    >>> enqueue_jobs(study, [{"x": 2}, {"x": 3}])  # already there: nothing added
    0
    >>> run_worker(study, lambda job: {"square": job["x"] ** 2}, objective="square")
    2
    >>> [(row["x"], row["square"]) for row in collect(study)]
    [(2, 4), (3, 9)]

Why no job is trained twice: a worker takes a job by moving its trial from WAITING to RUNNING,
and the storage lets exactly one worker make that move (a row lock in a database, the order of
the log in a journal file): this is how `optuna.Study.ask` takes an enqueued trial. Two workers
that start at once may both enqueue the same job; the trials of one job are numbered in the
order they were created, so a worker that takes a copy while an older copy is waiting, running
or complete drops its own copy untrained (PRUNED), and `collect` keeps one row per job. One
exception: a live worker taken for dead (its heartbeat lost for the whole grace period, or
`requeue_running` while it runs) trains its job while another worker trains it again; the
table stays right, as the late result is dropped.

What survives a crash: every told result (it is in the storage). A worker that dies loses the
job it was training, which stays RUNNING. On a database (`sqlite:`, `postgresql:`), a worker
records a heartbeat every `heartbeat_seconds` while it trains; any worker that finds a RUNNING
trial whose heartbeat is older than `grace_seconds` marks it FAIL and enqueues it again (Optuna's
`fail_stale_trials` with `RetryHeartbeatStaleTrialCallback`). Optuna 5.1's journal storage has no
heartbeat: there, once no worker is running, `requeue_running` puts such jobs back.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import optuna
import sqlalchemy
import sqlalchemy.event
import sqlalchemy.exc
from optuna.exceptions import ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from lwcnn import checks

STORAGE_FORMS = "journal:PATH, sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
JOB = "job"  # the user attr that holds a trial's job
WORKER = "worker"  # the user attr that names the worker which trained it: "host:pid"
DUPLICATE_OF = "duplicate_of"  # on a dropped copy: the number of the older trial of its job
LIVE = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)  # a job "in the study"
Job = Mapping[str, Any]


def open_study(
    storage_url: str,
    name: str,
    heartbeat_seconds: int | None = 60,
    grace_seconds: int | None = None,
    max_retry: int = 3,
    direction: str = "maximize",
    sampler: optuna.samplers.BaseSampler | None = None,
) -> optuna.Study:
    """The study `name` in the storage at `storage_url`, created if it does not exist yet.

    `storage_url` is `journal:PATH` (Optuna's journal file: one machine, or a shared disk),
    `sqlite:///PATH` (a database file: one machine) or `postgresql://USER:PASSWORD@HOST:PORT/DB`
    (a database server: many machines; through psycopg2 unless `postgresql+DRIVER://` names
    another driver). On the two databases a worker records a heartbeat every
    `heartbeat_seconds` while it trains; a RUNNING trial silent for `grace_seconds` (default
    twice the heartbeat) counts as dead and its job is enqueued again, up to `max_retry` times
    (then the next `enqueue_jobs` adds it again). `heartbeat_seconds=None` turns that off; the
    journal has no heartbeat (see `requeue_running`). `sampler` is this process's sampler: a
    search shared by workers (`OptunaStrategy(storage=...)`) has each worker sample from every
    worker's results; a queue of jobs needs none.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string (the study's name), got {name!r}")
    if heartbeat_seconds is not None:
        checks.check_int("heartbeat_seconds", heartbeat_seconds)
    if grace_seconds is not None:
        checks.check_int("grace_seconds", grace_seconds)
    checks.check_int("max_retry", max_retry, minimum=0)
    storage = _storage(storage_url, heartbeat_seconds, grace_seconds, max_retry)
    # load_if_exists: two workers that create the same study at once both get it.
    return optuna.create_study(
        storage=storage, study_name=name, direction=direction, sampler=sampler, load_if_exists=True
    )


def _storage(
    url: str, heartbeat_seconds: int | None, grace_seconds: int | None, max_retry: int
) -> BaseStorage:
    if not isinstance(url, str):
        raise ValueError(f"storage_url must be a string, one of {STORAGE_FORMS}; got {url!r}")
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        if not path:
            raise ValueError(f"storage_url journal:PATH needs a file path, got {url!r}")
        return JournalStorage(JournalFileBackend(path))
    scheme = url.split(":", 1)[0]
    if scheme != "sqlite" and scheme.split("+")[0] != "postgresql":
        raise ValueError(f"storage_url must be one of {STORAGE_FORMS}; got {url!r}")
    if scheme == "postgresql":  # SQLAlchemy 2.1 picks psycopg 3 unless told; lwcnn installs psycopg2
        url = "postgresql+psycopg2" + url.removeprefix("postgresql")
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat is "experimental"
                heartbeat = {}
                if heartbeat_seconds is not None:
                    heartbeat = {
                        "heartbeat_interval": heartbeat_seconds,
                        "grace_period": grace_seconds,
                        "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(max_retry),
                    }
                if scheme == "sqlite":  # sqlite3 leaves BEGIN to SQLAlchemy, which locks (below);
                    # a worker waits up to a minute for the lock (sqlite3's 5 s starve at a start rush)
                    heartbeat["engine_kwargs"] = {"connect_args": {"isolation_level": None, "timeout": 60}}
                storage = RDBStorage(url, **heartbeat)
            if scheme == "sqlite":
                _lock_sqlite_on_begin(storage.engine)
            return storage
        except sqlalchemy.exc.DBAPIError:
            # Two workers that meet an empty database both create its tables: one may lose the race.
            if attempt == 2:
                raise
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _lock_sqlite_on_begin(engine: sqlalchemy.Engine) -> None:
    """Make every SQLite transaction take the database's write lock when it begins.

    Python's sqlite3 begins a transaction lazily, at its first write, and SQLite ignores `SELECT
    ... FOR UPDATE`; so two workers can both read a trial as WAITING, both set it RUNNING, and
    both train it (Optuna issue #4621; three workers here did so within 60 jobs). Begun with
    `BEGIN IMMEDIATE`, the second worker's read waits for the first's write and sees RUNNING.
    SQLAlchemy's recipe ("pysqlite: serializable isolation"), with sqlite3's own BEGIN turned off
    by `isolation_level=None` when each connection opens.
    """

    @sqlalchemy.event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _key(job: Job) -> str:
    """A job's identity: its JSON with sorted keys, so {"a": 1, "b": 2} == {"b": 2, "a": 1}."""
    return json.dumps(job, sort_keys=True)


def _check_job(job: Any) -> dict[str, Any]:
    if not isinstance(job, Mapping) or not all(isinstance(key, str) for key in job):
        raise ValueError(
            f"a job must be a dict with string keys, e.g. {{'code': '0-1', 'seed': 0}}; got {job!r}"
        )
    try:
        return json.loads(_key(job))
    except TypeError as error:
        raise ValueError(
            f"a job's values must be JSON (str, int, float, bool, list, dict); got {job!r}"
        ) from error


def _jobs_by_state(study: optuna.Study, states: Iterable[TrialState]) -> dict[str, FrozenTrial]:
    """The oldest trial of each job among trials in `states`, by job key."""
    oldest: dict[str, FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False, states=tuple(states)):  # in trial-number order
        if JOB in trial.user_attrs:
            oldest.setdefault(_key(trial.user_attrs[JOB]), trial)
    return oldest


def _wait_for_other_enqueuers(study: optuna.Study, present: set[str]) -> set[str]:
    """The jobs in the study now, once no other worker is adding any. Two workers enqueuing the
    same list at once would add every job twice; each sleeps a random while when it sees the
    other's jobs appear, and the one that wakes to a still-growing study waits for it to finish."""
    now = set(_jobs_by_state(study, LIVE))
    while now - present:  # jobs we did not add appeared since we last looked
        time.sleep(0.5 + random.random())
        present, now = now, set(_jobs_by_state(study, LIVE))
    return now


def enqueue_jobs(study: optuna.Study, jobs: Iterable[Job]) -> int:
    """Add each job that has no WAITING, RUNNING or COMPLETE trial as a WAITING trial; return
    how many were added. Run it again (or from every worker) at no cost: after it returns,
    every job is in the study. A job whose trials all failed is added again: a rerun retries it.

    Two workers enqueuing at once may both add a job (up to 16 each before one waits for the
    other); that costs no training (see the module's docstring): a worker drops such a copy.
    """
    present = set(_jobs_by_state(study, LIVE))
    added = 0
    for index, job in enumerate(jobs):
        job = _check_job(job)
        if index % 16 == 15:
            present |= _wait_for_other_enqueuers(study, present)
        if _key(job) not in present:
            study.enqueue_trial({}, user_attrs={JOB: job})
            present.add(_key(job))  # the same job twice in `jobs` is enqueued once
            added += 1
    return added


def job_states(study: optuna.Study) -> dict[str, int]:
    """How many jobs are complete, running, waiting or failed: each job once, by its furthest trial
    (a job that failed once and waits again counts as waiting)."""
    order = [TrialState.FAIL, TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE]
    furthest: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False, states=order):
        if JOB in trial.user_attrs:
            key = _key(trial.user_attrs[JOB])
            furthest[key] = max(furthest.get(key, 0), order.index(trial.state))
    counts = dict.fromkeys(("failed", "waiting", "running", "complete"), 0)
    for rank in furthest.values():
        counts[list(counts)[rank]] += 1
    return counts


def _take_next(study: optuna.Study) -> FrozenTrial | None:
    """Move the oldest WAITING job to RUNNING and return it; None when no job waits.

    This is the first half of `Study.ask` (`Study._pop_waiting_trial_id`): the storage says
    whether *this* worker made the move, so two workers never take the same trial. We do not call
    `ask` itself: with nothing waiting it would create a new, jobless trial.
    """
    storage = study._storage  # Optuna keeps the storage private; we use its public methods
    for trial in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        if JOB not in trial.user_attrs:
            continue  # a trial someone else enqueued: not a job of ours
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial
        except UpdateFinishedTrialError:
            pass  # finished meanwhile (given up by `requeue_running`, say)
    return None


def _older_copy(study: optuna.Study, trial: FrozenTrial) -> int | None:
    """The number of an older WAITING, RUNNING or COMPLETE trial of the same job, if any."""
    key = _key(trial.user_attrs[JOB])
    for other in study.get_trials(deepcopy=False, states=LIVE):
        if other.number < trial.number and _key(other.user_attrs.get(JOB, {})) == key:
            return other.number
    return None


def _fail_stale_trials(study: optuna.Study) -> None:
    """Databases only: mark FAIL every RUNNING trial whose heartbeat is older than the grace
    period; the storage's callback enqueues its job again. Nothing on a journal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


class _Heartbeat:
    """While a job trains, record its trial's heartbeat every `heartbeat_interval` seconds in a
    thread (what `Study.optimize` does; `ask`/`tell` loops do it themselves). Does nothing on a
    storage without heartbeats."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self.storage, self.trial_id = storage, trial_id
        # Optuna wraps an RDBStorage in a cache that forwards the heartbeat; a journal has none.
        self.interval = (
            storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") else None
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as error:  # a network blip: the next beat may get through
                warnings.warn(f"heartbeat of trial {self.trial_id} failed: {error}", stacklevel=1)

    def __enter__(self) -> _Heartbeat:
        if self.interval is not None:
            self.storage.record_heartbeat(self.trial_id)  # at once: a trial with none never goes stale
            self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.interval is not None:
            self.stop.set()
            self.thread.join()


def _check_result(result: Any, objective: str, job: Job) -> float:
    if not isinstance(result, Mapping) or objective not in result:
        raise ValueError(f"train_fn must return a dict with the objective {objective!r}; got {result!r}")
    clash = set(result) & ({JOB, WORKER, DUPLICATE_OF} | set(job))
    if clash:
        raise ValueError(
            f"train_fn's result may not reuse the names {sorted(clash)} (job fields or reserved)"
        )
    value = result[objective]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"result[{objective!r}] must be a finite number, got {value!r}")
    return float(value)


def run_worker(
    study: optuna.Study,
    train_fn: Callable[[dict[str, Any]], Mapping[str, Any]],
    objective: str,
    max_jobs: int | None = None,
    on_result: Callable[[dict[str, Any], Mapping[str, Any]], None] | None = None,
) -> int:
    """Take waiting jobs one by one, `result = train_fn(job)`, tell `result[objective]` as the
    trial's value and keep every field of `result` (JSON values) as a user attr of the trial;
    stop when no job waits (or after `max_jobs`). Return how many jobs this worker trained.

    Before each job it gives up trials whose worker stopped beating (databases only). If
    `train_fn` raises, the trial is marked FAIL and the error propagates: the job is not retried
    in this run (a bug would fail again), the next `enqueue_jobs` adds it back. On Ctrl-C the job
    is queued again at once.
    `on_result(job, result)` is called after each job (progress output).
    """
    if not isinstance(objective, str):
        raise ValueError(f"objective must be the name of a field of train_fn's result, got {objective!r}")
    if max_jobs is not None:
        checks.check_int("max_jobs", max_jobs)
    storage = study._storage
    worker = f"{socket.gethostname()}:{os.getpid()}"
    trained = 0
    while max_jobs is None or trained < max_jobs:
        _fail_stale_trials(study)
        trial = _take_next(study)
        if trial is None:
            break
        job = dict(trial.user_attrs[JOB])
        with _Heartbeat(storage, trial._trial_id):
            older = _older_copy(study, trial)
            if older is not None:  # a copy enqueued by a second worker: leave the job to the older one
                storage.set_trial_user_attr(trial._trial_id, DUPLICATE_OF, older)
                study.tell(trial.number, state=TrialState.PRUNED, skip_if_finished=True)
                continue
            storage.set_trial_user_attr(trial._trial_id, WORKER, worker)
            try:
                result = train_fn(dict(job))
                value = _check_result(result, objective, job)
            except Exception:
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                raise
            except BaseException:  # Ctrl-C: nothing is wrong with the job, give it back
                study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
                enqueue_jobs(study, [job])
                raise
            try:
                for name, field in result.items():
                    storage.set_trial_user_attr(trial._trial_id, name, field)
                study.tell(trial.number, value)
            except UpdateFinishedTrialError:
                # Given up as stale while we trained (no heartbeat got through): the job is queued
                # again, someone else trains it; this result is dropped.
                warnings.warn(
                    f"trial {trial.number} was given up while training {job}; result dropped", stacklevel=1
                )
                continue
        trained += 1
        if on_result is not None:
            on_result(job, result)
    return trained


def requeue_running(study: optuna.Study) -> int:
    """Mark FAIL every RUNNING job and enqueue it again; return how many. For a journal (no
    heartbeat), or a worker killed before its first heartbeat: run it only when no worker is
    running, or a live worker's job is trained twice (its late result is then dropped)."""
    storage = study._storage
    stopped = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if JOB not in trial.user_attrs:
            continue
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                stopped.append(trial.user_attrs[JOB])
        except UpdateFinishedTrialError:
            pass  # finished meanwhile
    return enqueue_jobs(study, stopped)


def collect(study: optuna.Study) -> list[dict[str, Any]]:
    """One row per finished job (its oldest complete trial), in trial-number order: the job's
    fields, the result's fields and `worker` (who trained it)."""
    rows = []
    for trial in _jobs_by_state(study, [TrialState.COMPLETE]).values():
        results = {name: value for name, value in trial.user_attrs.items() if name not in (JOB, DUPLICATE_OF)}
        rows.append({**trial.user_attrs[JOB], **results})
    return rows
