"""Fixtures of the browser tests: a private JupyterLab on a loopback port, and Debian's Chromium.

The lab serves temporary copies of `notebooks/` and `student/` (so running cells never autosaves
over the committed lessons) beside a link to `data/`, with its own settings, workspace and runtime folders:
no news fetching, no update checks, every cell rendered (no virtual scrolling). Playwright drives
`CHROMIUM` (default /usr/bin/chromium) and never downloads a browser of its own.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("LWCNN_SCREENSHOTS", ROOT / "build" / "browser"))
LAB_SETTINGS = {  # JupyterLab user settings: quiet, offline, every cell in the page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """(base url, token) of a JupyterLab serving a copy of the lessons on 127.0.0.1 only: the
    instructor's under notebooks/, the student's under student/."""
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks")
    shutil.copytree(ROOT / "student", home / "student")
    (home / "data").symlink_to(ROOT / "data", target_is_directory=True)
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "IPYTHONDIR": str(home / "ipython"),  # no profile or startup file of the user's
        # One torch thread in the kernels: Chromium shares the cores, and OpenMP threads that
        # spin-wait for a busy core make a lesson's training many times slower.
        "OMP_NUM_THREADS": "1",
    }
    env.pop("MPLBACKEND", None)  # the kernels draw inline, as for a student (the tests' Agg is not theirs)
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={home}",
    ]
    if os.geteuid() == 0:  # JupyterLab refuses root unless told
        command.append("--allow-root")
    log = open(home / "lab.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/lab?token={token}", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer on {url}/lab; its log: {home / 'lab.log'}")
            time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium under Playwright (headless); fails, with how to install it, when absent."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's package (sudo apt-get install chromium) or "
            "point CHROMIUM=/path/to/chromium at one; Playwright's own browser download is not used",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# Every control the suite moves: how long from the key press to the page showing its new text.
WIDGET_TIMES: list[dict] = []
WIDGET_TIMES_CSV = SCREENSHOTS / "widget_times.csv"
WIDGET_TIMES_FIELDS = ["control", "widget", "lesson", "kind", "seconds", "busy_shown"]


@pytest.fixture(scope="session")
def widget_times() -> list[dict]:
    """The list the tests add one row per control moved to (written and printed at the end)."""
    return WIDGET_TIMES


@pytest.fixture(autouse=True)
def _save_widget_times():
    """After each test, the times so far go to WIDGET_TIMES_CSV (a run cut short keeps them)."""
    yield
    if WIDGET_TIMES:
        write_widget_times()


def write_widget_times() -> None:
    import csv

    WIDGET_TIMES_CSV.parent.mkdir(parents=True, exist_ok=True)
    with WIDGET_TIMES_CSV.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=WIDGET_TIMES_FIELDS)
        writer.writeheader()
        writer.writerows(WIDGET_TIMES)


def widget_times_table(rows: list[dict]) -> list[str]:
    """The timing rows as aligned lines, then the slowest control of each kind."""
    lines = [f"{'lesson':<6} {'kind':<7} {'seconds':>7}  {'busy shown':<10}  control (widget)"]
    for row in rows:
        lines.append(
            f"{row['lesson']:<6} {row['kind']:<7} {float(row['seconds']):7.3f}  "
            f"{str(row['busy_shown']):<10}  {row['control']} ({row['widget']})"
        )
    for kind in ("cost", "network"):
        of_kind = [row for row in rows if row["kind"] == kind]
        if of_kind:
            slowest = max(of_kind, key=lambda row: float(row["seconds"]))
            lines.append(
                f"slowest {kind} control: {float(slowest['seconds']):.3f} s "
                f"({slowest['control']}, lesson {slowest['lesson']})"
            )
    return lines


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """The folder each lesson's screenshot goes to (reported at the end of the run)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def pytest_terminal_summary(terminalreporter):
    if WIDGET_TIMES:
        write_widget_times()
        terminalreporter.section("widget times: key press -> new text on the page")
        for line in widget_times_table(WIDGET_TIMES):
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"written to {WIDGET_TIMES_CSV}")
    if SCREENSHOTS.exists() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser screenshots: {SCREENSHOTS}")
