"""``examstutor dev``: what ``make run`` runs.

Starts the embedded PostgreSQL (unless ``EXAMSTUTOR_DATABASE_URL`` is set),
migrates, makes sure a primary data key exists, seeds demo data once, starts
the API and the Dagster UI (with its daemon) where their packages are installed, prints what is
running, and stops all of it — PostgreSQL included — on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from examstutor_platform.cli.dagster_home import dagster_argv, write_dagster_home
from examstutor_platform.cli.db import run_migrations
from examstutor_platform.db.location import embedded_server, resolve_url
from examstutor_platform.settings import Settings, load_dev_secrets, redact_url

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dev``."""
    parser = commands.add_parser(
        "dev", help="run everything locally: database, migrations, demo data, API, Dagster UI"
    )
    parser.add_argument("--no-seed", action="store_true", help="do not seed demo data")
    parser.add_argument("--api-port", type=int, default=8000, metavar="N")
    parser.add_argument("--dagster-port", type=int, default=3000, metavar="N")
    parser.set_defaults(handler=_dev)


@dataclass
class _Children:
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        process = subprocess.Popen(argv, env=env, start_new_session=True)  # noqa: S603
        self.processes.append((name, process))

    def any_exited(self) -> str | None:
        for name, process in self.processes:
            if process.poll() is not None:
                return f"{name} exited with status {process.returncode}"
        return None

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


async def _prepare(settings: Settings, url: str, seed: bool) -> list[str]:
    from examstutor_platform.demo import prepare_database

    return await prepare_database(settings, url, seed=seed)


def _dev(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    url = resolve_url(settings)
    applied = asyncio.run(run_migrations(url))
    notes = asyncio.run(_prepare(settings, url, seed=not args.no_seed))

    env = dict(os.environ)
    env.setdefault("EXAMSTUTOR_HOME", str(settings.home))
    env["EXAMSTUTOR_DATABASE_URL"] = url
    env.setdefault("EXAMSTUTOR_EXPORT_DIR", str(settings.export_dir))
    env.setdefault("EXAMSTUTOR_TIMEZONE", settings.timezone)
    if settings.env == "dev":
        # the Dagster resources read every value through EnvVar: hand them the dev secrets
        for name, value in load_dev_secrets(settings.home).items():
            env.setdefault(name, value)
    bin_folder = Path(sys.executable).parent
    children = _Children()
    lines = [
        f"database   {redact_url(url)}"
        + (" (embedded PostgreSQL 18)" if settings.uses_embedded_database else ""),
        f"migrations {len(applied)} applied now, schema current",
        f"keys       {notes[0]}",
        *[f"demo       {note}" for note in notes[1:]],
    ]
    if _installed("examstutor_api.app"):
        children.start(
            "api",
            [
                str(bin_folder / "sanic"),
                "examstutor_api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.api_port),
            ],
            env,
        )
        lines.append(f"api        http://127.0.0.1:{args.api_port}  (docs: /docs)")
    if _installed("examstutor_pipelines.definitions"):
        env["DAGSTER_HOME"] = str(write_dagster_home(settings, url))
        children.start("dagster", dagster_argv(bin_folder, args.dagster_port), env)
        lines.append(
            f"dagster    http://127.0.0.1:{args.dagster_port}  (UI, daemon: schedules, sensors)"
        )
    print("ExamsTutor is running:")
    for line in lines:
        print(f"  {line}")
    print("Press Ctrl-C to stop everything.", flush=True)

    stop = {"now": False}

    def _request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    # Ctrl-C and a plain kill both stop everything (a background start may ignore SIGINT
    # by default, so the handler is installed explicitly)
    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    try:
        while not stop["now"]:
            problem = children.any_exited()
            if problem:
                print(f"examstutor: {problem}; stopping", file=sys.stderr)
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping…", flush=True)
        children.stop()
        if settings.uses_embedded_database:
            embedded_server(settings).stop()
        print("stopped", flush=True)
    return 0
