"""Build the course's tabular NAS benchmark: every network of `lwcnn.nas.TABLE_SPACE`, trained.

    .venv/bin/python benchmarks/nasbench_build.py                   # about 35 minutes on 2 CPU cores
    .venv/bin/python benchmarks/nasbench_build.py --space heldout   # the held-out table, about 15 minutes

Trains each of the 216 architectures on digits with `RECIPE` once per seed (three for the course's table, as
NAS-Bench-101 and -201 do: one short run's test accuracy is partly luck), in `--jobs` processes of
one thread, then times them side by side on one thread (`lwcnn.latency.fastest`: the fastest of
75 calls each; batch 1, 32x32, eval mode) with nothing else running. Writes
`data/nasbench_digits.csv`: a header of `#` lines (command, machine, recipe, build time), then one
row per architecture: its code (`TABLE_SPACE.encode`), ops and kernels, params, MACs, the mean
test accuracy over the seeds, each seed's accuracy, and the CPU latency (ms).

`--space heldout` builds `data/nasbench_digits_heldout.csv` the same way from
`lwcnn.nas.HELDOUT_SPACE` (the same decisions over other networks: SE in every block, no identity
shortcut) with one seed: the table search settings are chosen on (`benchmarks/nas_settings.py`).

Interrupted runs resume: finished trainings are kept in `<table>.partial.csv` (one row per network
and seed) and skipped on the next run (delete it to start over).

Many machines: with `--storage URL` the trainings are jobs in an Optuna study that any number of
workers share (`lwcnn.nas.distributed`; README, "Scaling out"):

    .venv/bin/python benchmarks/nasbench_build.py --storage postgresql://lwcnn:PASSWORD@HOST/lwcnn   # one machine
    .venv/bin/python benchmarks/nasbench_build.py --storage postgresql://lwcnn:PASSWORD@HOST/lwcnn --worker   # the others

The first trains, waits for the others' last networks, then times the networks and writes the
table; `--worker` only trains; `--collect` only writes the table from what the study holds. A
dead worker loses its current network: on a database it is trained again once its heartbeat is
`2 * --heartbeat` seconds old; on a `journal:` file, run once with `--requeue-running` when no
worker is left. `--limit`, `--epochs` and `--seeds` build a small table fast (tests; with `--out`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import multiprocessing
import pathlib
import platform
import sys
import time

import torch
from tqdm.auto import tqdm

from lwcnn import latency, nas
from lwcnn.data import digits_loaders
from lwcnn.train import set_seed, train

ROOT = pathlib.Path(__file__).resolve().parents[1]
RECIPE = {"epochs": 3, "optimizer": "adam", "lr": 0.01, "batch_size": 64}
# Each seed seeds the weights and the batch order; every run sees digits' split 0.
SPACES = {
    "table": ("TABLE_SPACE", nas.DEFAULT_TABLE, (0, 1, 2)),
    "heldout": ("HELDOUT_SPACE", nas.HELDOUT_TABLE, (0,)),
}
LATENCY_ROUNDS, LATENCY_CALLS = 15, 5  # latency.fastest: the fastest of 75 calls per network
TRAINED = ["code", "seed", "params", "macs", "test_accuracy", "train_seconds"]


def _code_text(code: tuple[int, ...]) -> str:
    return "-".join(map(str, code))


def _train(job: tuple[str, tuple[int, ...], int, dict]) -> list:
    """Train one architecture of space `nas.<name>` with one seed and `recipe` on one thread: its
    row of TRAINED."""
    name, code, seed, recipe = job
    torch.set_num_threads(1)  # the order of float sums, hence the numbers, depend on it
    space = getattr(nas, name)
    spec = space.spec(space.decode(code))
    set_seed(seed)
    model = spec.build()
    loaders = digits_loaders(batch_size=recipe["batch_size"], seed=0)  # one test set for all runs
    start = time.perf_counter()
    history = train(
        model,
        loaders,
        epochs=recipe["epochs"],
        lr=recipe["lr"],
        optimizer=recipe["optimizer"],
        seed=seed,
        progress=False,
    )
    cost = spec.cost()
    return [
        _code_text(code),
        seed,
        cost.params,
        cost.macs,
        history.final_test_accuracy,
        time.perf_counter() - start,
    ]


def _read_partial(partial: pathlib.Path) -> dict[tuple[str, int], list]:
    """Finished trainings by (code, seed). A run's seconds may be empty: carried over untimed."""
    if not partial.exists():
        return {}
    with open(partial, newline="") as handle:
        return {(row[0], int(row[1])): row for row in csv.reader(handle)}


def _train_job(job: dict, recipe: dict) -> dict:
    """`_train` for `distributed.run_worker`: a job {"space", "code", "seed"} in, TRAINED's results out."""
    code = tuple(int(part) for part in job["code"].split("-"))
    row = _train((job["space"], code, job["seed"], recipe))
    return dict(zip(TRAINED[2:], row[2:], strict=True))


def _shown(path: pathlib.Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _train_locally(
    args, space_name: str, jobs: list, partial: pathlib.Path, recipe: dict
) -> tuple[dict, str]:
    """Train in `--jobs` processes on this machine, resuming from `partial`: runs by (code, seed)."""
    done = _read_partial(partial)
    todo = [(space_name, code, seed, recipe) for code, seed in jobs if (_code_text(code), seed) not in done]
    if todo:
        # One job at a time runs here: the same numbers (one thread either way), one start-up less.
        pool = multiprocessing.get_context("spawn").Pool(args.jobs) if args.jobs > 1 else None
        with (
            pool or contextlib.nullcontext(),
            open(partial, "a", newline="") as handle,
            tqdm(
                total=len(jobs), initial=len(jobs) - len(todo), desc="training", disable=args.no_progress
            ) as bar,
        ):
            writer = csv.writer(handle)
            for row in pool.imap_unordered(_train, todo) if pool else map(_train, todo):
                writer.writerow(row)
                handle.flush()
                done[row[0], row[1]] = row
                bar.update()
    return done, f"{args.jobs} processes"


def _open_study(args, recipe: dict):
    """The shared study, checked to train with this run's recipe (its runs must not be mixed)."""
    import optuna  # only needed with --storage

    from lwcnn.nas import distributed

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # not a line per trial
    try:
        study = distributed.open_study(args.storage, args.study, heartbeat_seconds=args.heartbeat)
    except ValueError as error:
        sys.exit(f"--storage: {error}")
    stored = study.user_attrs.get("recipe")
    if stored is None:
        study.set_user_attr("recipe", recipe)
    elif stored != recipe:
        sys.exit(f"study {args.study!r} trains with {stored}, this run with {recipe}: use another --study")
    return study


def _shared_worker(args, recipe: dict, study=None) -> int:
    """One worker: train waiting jobs of the shared study until none waits (first giving up jobs
    whose worker's heartbeat stopped, which queues them again)."""
    from lwcnn.nas import distributed

    study = study or _open_study(args, recipe)
    report = None
    if not args.no_progress:

        def report(job: dict, result: dict) -> None:
            print(
                f"trained {job['code']} seed {job['seed']}: accuracy {result['test_accuracy']:.4f} "
                f"in {result['train_seconds']:.0f} s",
                flush=True,
            )

    train_fn = functools.partial(_train_job, recipe=recipe)
    return distributed.run_worker(study, train_fn, objective="test_accuracy", on_result=report)


def _train_shared(args, space_name: str, jobs: list, recipe: dict) -> tuple[dict | None, str]:
    """Train through the shared study (unless --collect), then wait for other workers' last jobs:
    runs by (code, seed), or None when the table cannot be written (yet)."""
    from lwcnn.nas import distributed

    study = _open_study(args, recipe)
    queue = [{"space": space_name, "code": _code_text(code), "seed": seed} for code, seed in jobs]
    if args.requeue_running:
        print(f"{distributed.requeue_running(study)} running jobs given up and queued again", flush=True)
    if not args.collect:
        added = distributed.enqueue_jobs(study, queue)
        print(f"study {args.study!r}: {added} of {len(queue)} jobs added, the rest were there", flush=True)
        if args.jobs == 1:
            _shared_worker(args, recipe, study)
        else:
            with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
                pool.starmap(_shared_worker, [(args, recipe)] * args.jobs)
        if args.worker:
            print(f"no job waits; the study's jobs: {distributed.job_states(study)}", flush=True)
            return None, ""
    told = 0
    while True:
        # States first, rows second: a job another worker finishes between the two reads is then
        # counted as running (so we wait for it) rather than as missing with nothing left to run.
        states = distributed.job_states(study)
        rows = distributed.collect(study)
        done = {
            (row["code"], row["seed"]): [row["code"], row["seed"], *(row[name] for name in TRAINED[2:])]
            for row in rows
            if row.get("space") == space_name
        }
        missing = sum((_code_text(code), seed) not in done for code, seed in jobs)
        if not missing:
            break
        if args.collect or states["waiting"] + states["running"] == 0:
            print(f"{missing} of {len(jobs)} jobs not done; the study's jobs: {states}", flush=True)
            if args.collect or states["failed"]:
                print("a run without --collect queues the missing jobs again and trains them", flush=True)
            return None, ""
        if not states["waiting"] and time.monotonic() > told:
            print(
                f"waiting for {states['running']} jobs running on other workers; a worker that died on a "
                "journal: storage leaves its job running (stop all workers, rerun with --requeue-running)",
                flush=True,
            )
            told = time.monotonic() + 300
        time.sleep(0 if states["waiting"] else 2)
        _shared_worker(args, recipe, study)  # jobs given back by a dead worker: train them here
    workers = {row["worker"] for row in rows if row.get("space") == space_name}
    machines = {worker.rsplit(":", 1)[0] for worker in workers}
    plural = "s" if len(machines) > 1 else ""
    return (
        done,
        f"{len(workers)} worker processes on {len(machines)} machine{plural} sharing one Optuna study",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", type=_positive, default=2, help="training processes (default 2), one thread each"
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--space",
        choices=list(SPACES),
        default="table",
        help="the course's table (default) or the held-out one",
    )
    parser.add_argument("--out", type=pathlib.Path, help="the table to write (default: the space's table)")
    parser.add_argument("--limit", type=_positive, help="only the first N networks of the space (tests)")
    parser.add_argument(
        "--epochs", type=_positive, help=f"train this many epochs, not {RECIPE['epochs']} (tests)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="train with these seeds, not the space's (tests)"
    )
    shared = parser.add_argument_group("many workers sharing one Optuna storage (README: Scaling out)")
    shared.add_argument(
        "--storage", metavar="URL", help="journal:PATH, sqlite:///PATH or postgresql://USER:PASSWORD@HOST/DB"
    )
    shared.add_argument(
        "--study", help="the study's name in the storage (default: the space's table name, nasbench_digits)"
    )
    mode = shared.add_mutually_exclusive_group()
    mode.add_argument("--worker", action="store_true", help="only train waiting jobs; write no table")
    mode.add_argument("--collect", action="store_true", help="train nothing; write the table from the study")
    shared.add_argument(
        "--heartbeat",
        type=_positive,
        default=60,
        metavar="SECONDS",
        help="databases: a job whose worker is silent for twice this is trained again (default 60)",
    )
    shared.add_argument(
        "--requeue-running",
        action="store_true",
        help="first give up every running job and queue it again (when no worker is left)",
    )
    args = parser.parse_args()
    space_name, default_out, seeds = SPACES[args.space]
    out, seeds = args.out or default_out, tuple(args.seeds or seeds)
    if not args.storage and (args.worker or args.collect or args.study or args.requeue_running):
        parser.error("--worker, --collect, --study and --requeue-running need --storage")
    args.study = args.study or default_out.stem  # not --out's: a worker has no --out
    recipe = RECIPE if args.epochs is None else {**RECIPE, "epochs": args.epochs}
    space = getattr(nas, space_name)
    codes = [space.encode(arch) for arch in space.all_archs()][: args.limit]
    jobs = [(code, seed) for code in codes for seed in seeds]
    start = time.perf_counter()
    if args.storage:
        done, workers = _train_shared(args, space_name, jobs, recipe)
        if done is None:
            return 0 if args.worker else 1
    else:
        done, workers = _train_locally(args, space_name, jobs, out.with_suffix(".partial.csv"), recipe)
    timed = [
        float(done[_code_text(code), seed][5]) for code, seed in jobs if done[_code_text(code), seed][5] != ""
    ]
    untimed = len(jobs) - len(timed)
    trained = f"{sum(timed):.0f} s of training over {len(timed)} timed runs" + (
        f" ({untimed} earlier runs of the same recipe kept without a time)" if untimed else ""
    )

    torch.set_num_threads(1)
    print(f"timing {len(codes)} networks side by side (about a minute; keep the machine quiet)", flush=True)
    networks = {_code_text(code): space.spec(space.decode(code)).build().eval() for code in codes}
    latencies = latency.fastest(
        networks, (1, 1, 32, 32), rounds=LATENCY_ROUNDS, calls=LATENCY_CALLS, threads=1
    )

    command = "benchmarks/nasbench_build.py" + ("" if args.space == "table" else f" --space {args.space}")
    for flag, value in (("--out", args.out), ("--limit", args.limit), ("--epochs", args.epochs)):
        command += "" if value is None else f" {flag} {value}"
    command += "" if args.seeds is None else " --seeds " + " ".join(map(str, seeds))
    if args.storage:
        from sqlalchemy.engine import make_url  # never write a database password into the table

        url = args.storage if args.storage.startswith("journal:") else make_url(args.storage)
        shown = url if isinstance(url, str) else url.render_as_string(hide_password=True)
        command += f" --storage {shown} --study {args.study}"
    with open(out, "w", newline="") as handle:
        handle.write(
            f"# lwcnn tabular NAS benchmark: every network of lwcnn.nas.{space_name} trained on digits\n"
            f"# made by: .venv/bin/python {command}\n"
            f"# machine: {latency.device_name()}; torch {torch.__version__}; Python {platform.python_version()}\n"
            f"# training: {recipe}, seeds {list(seeds)} (test_accuracy is their mean), one thread per run; "
            f"{trained}, {workers}\n"
            f"# latency: fastest of {LATENCY_ROUNDS * LATENCY_CALLS} calls in ms (lwcnn.latency.fastest, all networks side by side),"
            " one 32x32 image, batch 1, eval mode, one thread\n"
        )
        writer = csv.writer(handle)
        columns = [f"{name}{block + 1}" for block in range(space.blocks) for name in ("op", "kernel")]
        seeded = [f"accuracy_seed{seed}" for seed in seeds]
        writer.writerow(["code", *columns, "params", "macs", "test_accuracy", *seeded, "latency_ms"])
        for code in codes:
            text, arch = _code_text(code), space.decode(code)
            runs = [done[text, seed] for seed in seeds]
            accuracies = [float(run[4]) for run in runs]
            choices = [value for block in arch for value in (block.op, block.kernel)]
            writer.writerow(
                [text, *choices, runs[0][2], runs[0][3], f"{sum(accuracies) / len(accuracies):.6f}"]
                + [f"{accuracy:.6f}" for accuracy in accuracies]
                + [f"{latencies[text]:.4f}"]
            )
    print(f"wrote {_shown(out)}: {len(codes)} networks, {time.perf_counter() - start:.0f} s this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
