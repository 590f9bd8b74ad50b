"""`lwcnn.nas.distributed` and `benchmarks/nasbench_build.py --storage`: many workers, one study.

The queue's rules are checked in this process with a toy job (no training). Then, for real, the
builder fills a small sub-space (4 networks of TABLE_SPACE, seed 0, one epoch): two worker
processes on a journal file, a worker killed mid-job on SQLite, and two workers on a PostgreSQL
server this test starts on 127.0.0.1 (skipped, saying how to install it, when absent). Training
is deterministic per seed on one thread, so each table must equal the one a single process
builds, number for number (all but the latencies, which are timed anew).
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchmark_scripts
import pytest

optuna = pytest.importorskip("optuna")
from optuna.trial import TrialState  # noqa: E402

from lwcnn.nas import distributed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--limit", "4", "--epochs", "1", "--seeds", "0", "--jobs", "1", "--no-progress"]


def _build(*args: str, wait: bool = True) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, str(ROOT / "benchmarks" / "nasbench_build.py"), *SMALL, *args]
    if not wait:
        return subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _table(path: Path) -> list[dict[str, str]]:
    """The table's rows without the latency (timed anew by each build)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(line for line in handle if not line.startswith("#")))
    return [{name: value for name, value in row.items() if name != "latency_ms"} for row in rows]


def _finish(worker: subprocess.Popen) -> None:
    output, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, output


def _complete_once(study: optuna.Study) -> list[str]:
    """The jobs' codes of the study's COMPLETE trials (one each if no job was trained twice)."""
    return sorted(t.user_attrs["job"]["code"] for t in study.get_trials(states=(TrialState.COMPLETE,)))


@pytest.fixture(scope="module")
def single_process_table(tmp_path_factory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("single") / "table.csv"
    _build("--out", str(out))
    rows = _table(out)
    assert len(rows) == 4 and len({row["accuracy_seed0"] for row in rows}) > 1  # not all at chance
    return rows


# --- the queue's rules, in this process ---------------------------------------------------------


def _square(job: dict) -> dict:
    return {"square": job["x"] ** 2}


def test_storage_url_forms(tmp_path):
    for url in ("redis://localhost", "journal:", "/tmp/file.log", "mysql://u@h/db", 3):
        with pytest.raises(ValueError, match="storage_url"):
            distributed.open_study(url, "s")
    with pytest.raises(ValueError, match="name"):
        distributed.open_study(f"journal:{tmp_path / 'j.log'}", "")
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        distributed.open_study(f"sqlite:///{tmp_path / 's.db'}", "s", heartbeat_seconds=0)


def test_enqueue_is_idempotent_and_copies_are_trained_once(tmp_path):
    study = distributed.open_study(f"journal:{tmp_path / 'j.log'}", "squares")
    jobs = [{"x": x} for x in range(4)]
    assert distributed.enqueue_jobs(study, jobs + jobs[:1]) == 4
    assert distributed.enqueue_jobs(study, reversed(jobs)) == 0
    study.enqueue_trial({}, user_attrs={"job": {"x": 1}})  # what two workers enqueuing at once may do
    calls = []
    trained = distributed.run_worker(study, lambda job: calls.append(job) or _square(job), objective="square")
    assert trained == 4 and sorted(job["x"] for job in calls) == [0, 1, 2, 3]
    (copy,) = study.get_trials(states=(TrialState.PRUNED,))
    assert copy.user_attrs["duplicate_of"] == 1
    assert [(row["x"], row["square"]) for row in distributed.collect(study)] == [(x, x * x) for x in range(4)]
    assert distributed.job_states(study) == {"failed": 0, "waiting": 0, "running": 0, "complete": 4}
    with pytest.raises(ValueError, match="job"):
        distributed.enqueue_jobs(study, [{"x": object()}])


def test_a_failed_job_is_queued_again_by_the_next_enqueue(tmp_path):
    study = distributed.open_study(f"sqlite:///{tmp_path / 's.db'}", "squares", heartbeat_seconds=None)
    distributed.enqueue_jobs(study, [{"x": 1}])
    with pytest.raises(ValueError, match="square"):
        distributed.run_worker(study, lambda job: {"cube": 1}, objective="square")
    assert distributed.job_states(study)["failed"] == 1
    assert distributed.enqueue_jobs(study, [{"x": 1}]) == 1
    assert distributed.run_worker(study, _square, objective="square") == 1


def test_requeue_running_gives_back_a_dead_workers_job_on_a_journal(tmp_path):
    """A journal has no heartbeat: a job taken by a worker that died stays RUNNING until
    `requeue_running` (run when no worker is left) puts it back."""
    study = distributed.open_study(f"journal:{tmp_path / 'j.log'}", "squares")
    distributed.enqueue_jobs(study, [{"x": 2}, {"x": 3}])
    study.ask()  # a worker takes {"x": 2} and dies
    assert distributed.run_worker(study, _square, objective="square") == 1
    assert distributed.job_states(study) == {"failed": 0, "waiting": 0, "running": 1, "complete": 1}
    assert distributed.requeue_running(study) == 1
    assert distributed.run_worker(study, _square, objective="square") == 1
    assert sorted(row["x"] for row in distributed.collect(study)) == [2, 3]


def test_the_builder_waits_for_a_job_that_finishes_while_it_reads_the_study(tmp_path, monkeypatch):
    """Another worker finishes the last job between the builder's two reads of the study (its
    results, then its jobs' states). Read in that order, the job was neither among the results
    nor running any more, and the builder gave up with "1 of 4 jobs not done" beside a study
    whose four jobs were complete. It must wait for the job and write the table."""
    build = benchmark_scripts.load("nasbench_build")
    args = argparse.Namespace(
        storage=f"journal:{tmp_path / 'j.log'}", study="race", heartbeat=None, requeue_running=False,
        collect=False, jobs=1, worker=False, no_progress=True,
    )  # fmt: skip
    jobs = [((0, 1), 0), ((1, 0), 0)]
    study = build._open_study(args, build.RECIPE)
    distributed.enqueue_jobs(study, [{"space": "s", "code": build._code_text(c), "seed": s} for c, s in jobs])
    result = {"params": 1, "macs": 2, "test_accuracy": 0.5, "train_seconds": 1.0}
    elsewhere = study.ask()  # the other worker takes the first job ...
    distributed.run_worker(study, lambda job: result, objective="test_accuracy")  # ... this one the second
    read = distributed.collect

    def collect_then_the_other_worker_finishes(study):
        rows = read(study)
        if elsewhere.number not in [t.number for t in study.get_trials(states=(TrialState.COMPLETE,))]:
            for name, value in {**result, "worker": "elsewhere:1"}.items():
                elsewhere.set_user_attr(name, value)
            study.tell(elsewhere, result["test_accuracy"])
        return rows

    monkeypatch.setattr(distributed, "collect", collect_then_the_other_worker_finishes)
    done, how = build._train_shared(args, "s", jobs, build.RECIPE)
    assert done is not None and len(done) == 2, how
    assert "2 worker processes" in how


# --- the builder, for real -----------------------------------------------------------------------


def test_two_workers_on_a_journal_build_the_single_process_table(tmp_path, single_process_table):
    storage = f"journal:{tmp_path / 'nas.log'}"
    worker = _build("--storage", storage, "--worker", wait=False)
    _build("--storage", storage, "--out", str(tmp_path / "table.csv"))  # trains, waits, writes
    _finish(worker)
    assert _table(tmp_path / "table.csv") == single_process_table
    study = distributed.open_study(storage, "nasbench_digits")
    assert _complete_once(study) == sorted(row["code"] for row in single_process_table)


def test_a_killed_worker_loses_only_its_job(tmp_path, single_process_table):
    """SQLite with a 1 s heartbeat: kill a worker while it trains; the next run gives up its job
    after the 2 s grace period, trains it again, and every job is complete exactly once."""
    storage = f"sqlite:///{tmp_path / 'nas.db'}"
    worker = _build("--storage", storage, "--worker", "--heartbeat", "1", wait=False)
    study = distributed.open_study(storage, "nasbench_digits", heartbeat_seconds=1)
    deadline = time.monotonic() + 120
    while not any("worker" in t.user_attrs for t in study.get_trials(states=(TrialState.RUNNING,))):
        assert worker.poll() is None and time.monotonic() < deadline, "the worker never started a job"
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.communicate()
    _build("--storage", storage, "--heartbeat", "1", "--out", str(tmp_path / "table.csv"))
    assert _table(tmp_path / "table.csv") == single_process_table
    (killed,) = study.get_trials(states=(TrialState.FAIL,))
    assert killed.user_attrs["worker"].endswith(f":{worker.pid}")
    assert _complete_once(study) == sorted(row["code"] for row in single_process_table)


# --- PostgreSQL ----------------------------------------------------------------------------------


def _postgres_bin() -> Path | None:
    """Debian keeps the server's programs in /usr/lib/postgresql/<version>/bin, off PATH."""
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(pg_ctl).parent if initdb and pg_ctl and Path(initdb).parent == Path(pg_ctl).parent else None


@pytest.fixture
def postgres_url():
    """A PostgreSQL server in a temporary folder on 127.0.0.1 and a free port, stopped after.
    PostgreSQL refuses to run as root: as root, run it as the `postgres` (or `nobody`) user."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL's server (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH: "
            "install it with `sudo apt-get install postgresql` (.ci/run does)"
        )
    as_user: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="lwcnn-postgres-"))
    if os.geteuid() == 0:
        users = [name for name in ("postgres", "nobody") if _user_exists(name)]
        if not users or shutil.which("runuser") is None:
            pytest.skip(
                "running as root with no `postgres`/`nobody` user or no runuser to start PostgreSQL as"
            )
        as_user = ["runuser", "-u", users[0], "--"]
        shutil.chown(folder, users[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = folder / "data"

    def run(*command: str) -> None:
        done = subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_two_workers_on_postgresql_build_the_single_process_table(
    tmp_path, postgres_url, single_process_table
):
    worker = _build("--storage", postgres_url, "--worker", wait=False)
    _build("--storage", postgres_url, "--out", str(tmp_path / "table.csv"))
    _finish(worker)
    assert _table(tmp_path / "table.csv") == single_process_table
    study = distributed.open_study(postgres_url, "nasbench_digits")
    assert _complete_once(study) == sorted(row["code"] for row in single_process_table)
    assert "postgres@127.0.0.1" in (tmp_path / "table.csv").read_text()  # the URL, never a password
