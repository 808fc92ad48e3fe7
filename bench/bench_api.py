"""Benchmark: the API under load, audited reads against an unaudited baseline; 0 events lost.

Run from the repository root (needs ``wrk``: ``apt-get install -y wrk``); about
1.5 to 2 minutes::

    .venv/bin/python bench/bench_api.py [--rounds 5] [--duration 4] [--connections 64]

What it does, all on this machine over loopback:

1. starts an embedded PostgreSQL in a temporary folder (fsync and
   synchronous_commit on), creates and migrates a database, ensures a primary
   data key with fixed bench-only keys;
2. starts a real multi-worker Sanic server in its own process
   (``sanic bench.bench_api_server:create_bench_app --factory --workers 2``)
   with the pool under the ``examstutor_api`` role and ``ARGON2_PROFILE=light``
   (only so that registering and logging in the students is quick; no measured
   route hashes a password);
3. registers ``--students`` students and logs them in through the HTTP API;
4. loads the server with ``wrk`` (a second process; its Lua script rotates the
   students' bearer tokens and gives every request its own ``X-Request-ID``):
   a warm-up of each route, then ``GET /v1/me`` (audited) and
   ``GET /bench/me-unaudited`` (the same authentication, query and decryption
   without the audit write; only :mod:`bench_api_server` registers it),
   alternating, ``--rounds`` rounds each (short alternating rounds, so that
   other work on the machine weighs on both alike); then ``POST
   /v1/practice/sessions`` (the sessions started are kept) and ``POST
   /v1/practice/sessions/{id}/answers``, each request answering one of those
   fresh sessions. Before each run the server and the database are left to go
   idle, so that a run does not pay for the previous one's aftermath;
5. stops the server and compares every 2xx response of an audited route the
   clients saw (by its ``X-Request-ID``) with the audit events stored:
   ``lost`` = 2xx responses without their event (goal: 0).

Besides req/s (2xx per second) and latency (wrk's p50/p99), each run reports the
CPU time the Sanic workers and PostgreSQL spent per request (from /proc) and the
audit events per flush (one COPY is one transaction: its rows share an xmin).
Where CPU is the limit, baseline CPU / audited CPU per request predicts the
throughput ratio, and it is far less sensitive to other load on the machine.

Diagnosis only: ``--writer flushers=1,linger=0.002`` runs the server with other
audit writer settings than the app's; ``--py-spy PATH`` samples the workers.

Goal (issue): req/s of audited ``GET /v1/me`` / baseline >= 0.8.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sanic

from benchlib import cpu_model, server_facts
from examstutor_platform.crypto import DataKeyStore
from examstutor_platform.db import EmbeddedPostgres, connect, migrate
from examstutor_platform.settings import Settings, b64url_encode

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "examstutor_bench"
PASSWORD = "correct horse battery staple"  # noqa: S105 - the bench students' password
AUDITED_ME, BASELINE_ME = "/v1/me", "/bench/me-unaudited"
#: fixed bench-only secrets (never the dev ones, never real keys)
BENCH_ENV = {
    "EXAMSTUTOR_ENV": "dev",
    "EXAMSTUTOR_KEKS": "bench-kek:" + b64url_encode(bytes(range(40, 72))),
    "EXAMSTUTOR_INDEX_KEY": b64url_encode(bytes(range(41, 73))),
    "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(bytes(range(42, 74))),
    "EXAMSTUTOR_SIGNING_KEY": b64url_encode(bytes(range(43, 75))),
    "EXAMSTUTOR_JWT_SECRET": "bench-jwt-secret-" + "b" * 32,
}
#: ApiConfig overrides for the server (bench_api_server reads them)
SERVER_CONFIG = {"ARGON2_PROFILE": "light", "DB_ROLE": "examstutor_api", "MOTD": False}

# One Lua script for every wrk run. BENCH_DATA is a Lua file returning
# {items = {{method, path, token, body, tag}, ...}, cycle = true|false, capture = bool}:
# each thread walks its share (item tid, tid + threads, ...); with cycle it starts
# again at the end, without it the thread stops when its share is used up (each
# answer needs a fresh session). Every request carries its own X-Request-ID
# (BENCH_RUN-thread-counter[-t<tag>]), which the API echoes and stores in the audit
# event: response() keeps the ids of the 2xx and counts statuses; with capture it
# also keeps, from each started practice session, the tag (the student), the session
# id and each question's id and first choice. done() writes it all to BENCH_OUT.
WRK_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local clock = ffi.new("bench_timespec")
local function now()
   ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
   return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local data = dofile(os.getenv("BENCH_DATA"))
local items, cycle, capture = data.items, data.cycle, data.capture
local nthreads = tonumber(os.getenv("BENCH_THREADS"))
local run = os.getenv("BENCH_RUN")
local threads = {}
local position, counter = nil, 0
statuses, ids, captured, spent, exhausted, first_at, last_at = {}, {}, {}, 0, false, 0, 0

function setup(thread)
   table.insert(threads, thread)
   thread:set("tid", #threads)
end

function request()
   if position == nil then
      position = tid
      first_at = now()
   end
   if position > #items then
      if cycle then
         position = tid
      else
         if not exhausted then
            exhausted = true
            wrk.thread:stop()
         end
         return wrk.format("GET", "/health/live", {["X-Request-ID"] = "filler-request"})
      end
   end
   local item = items[position]
   position = position + nthreads
   spent = spent + 1
   counter = counter + 1
   local rid = run .. "-" .. tid .. "-" .. counter
   if item[5] then rid = rid .. "-t" .. item[5] end
   local headers = {["Authorization"] = "Bearer " .. item[3], ["X-Request-ID"] = rid}
   if item[4] then headers["Content-Type"] = "application/json" end
   return wrk.format(item[1], item[2], headers, item[4])
end

function response(status, headers, body)
   local rid = headers["X-Request-ID"] or headers["x-request-id"] or "?"
   if rid == "filler-request" then return end
   last_at = now()
   statuses[status] = (statuses[status] or 0) + 1
   if status < 200 or status >= 300 then return end
   ids[#ids + 1] = rid
   if capture then
      local questions, keys = {}, {}
      for qid in body:gmatch('{"id":"([^"]+)"') do questions[#questions + 1] = qid end
      for key in body:gmatch('"choices":{"([^"]+)"') do keys[#keys + 1] = key end
      for i = 1, #questions do questions[i] = questions[i] .. "=" .. (keys[i] or "?") end
      captured[#captured + 1] = (rid:match("%-t(%d+)$") or "?") .. " "
         .. (body:match('"session_id":"([^"]+)"') or "?") .. " " .. table.concat(questions, ",")
   end
end

function done(summary, latency, requests)
   local out = assert(io.open(os.getenv("BENCH_OUT"), "w"))
   out:write(string.format("requests %d\n", summary.requests))
   out:write(string.format("duration_us %d\n", summary.duration))
   local e = summary.errors
   out:write(string.format("errors %d %d %d %d %d\n",
      e.connect, e.read, e.write, e.status, e.timeout))
   for _, p in ipairs({50, 90, 99, 99.9}) do
      out:write(string.format("latency %s %d\n", p, latency:percentile(p)))
   end
   out:write(string.format("latency max %d\n", latency.max))
   for _, thread in ipairs(threads) do
      out:write(string.format("spent %d\n", thread:get("spent")))
      out:write(string.format("window %.6f %.6f %s\n", thread:get("first_at"),
         thread:get("last_at"), tostring(thread:get("exhausted"))))
      for status, count in pairs(thread:get("statuses")) do
         out:write(string.format("status %d %d\n", status, count))
      end
      for _, rid in ipairs(thread:get("ids")) do
         out:write("id " .. rid .. "\n")
      end
      for _, line in ipairs(thread:get("captured")) do
         out:write("capture " .. line .. "\n")
      end
   end
   out:close()
end
"""


@dataclass
class Run:
    """One wrk run: throughput, latency, statuses and the 2xx request ids."""

    label: str
    requests: int = 0
    seconds: float = 0.0
    latency_us: dict[str, float] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[int] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    captured: list[str] = field(default_factory=list)
    spent: int = 0
    #: True when a thread used up its items (each answer needs a fresh session)
    exhausted: bool = False
    #: CPU seconds during the run: the Sanic processes, PostgreSQL, wrk
    cpu: dict[str, float] = field(default_factory=dict)
    #: the 1-minute load average at the end of the run (other work on the machine shows here)
    load: float = 0.0
    #: when wrk ran (UTC), to find the run's audit flushes afterwards
    window: tuple[dt.datetime, dt.datetime] | None = None
    #: audit events stored during the run and the flushes (transactions) that stored them
    audit_events: int = 0
    audit_flushes: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def ok_rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


@dataclass
class Bench:
    """What the benchmark keeps between its steps."""

    args: argparse.Namespace
    folder: Path
    base_url: str = ""
    server_pid: int = 0
    postgres_pid: int = 0
    tokens: list[str] = field(default_factory=list)
    #: route label → X-Request-IDs of the 2xx responses clients saw on audited routes
    seen: dict[str, list[str]] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    def saw(self, label: str, ids: list[str]) -> None:
        self.seen.setdefault(label, []).extend(ids)


# ---------------------------------------------------------------- facts


def wrk_version() -> str:
    result = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    text = (result.stdout + result.stderr).strip().splitlines()
    return text[0].split(" Copyright")[0] if text else "unknown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(roots: list[int]) -> float:
    """CPU seconds (user + system) of ``roots`` and all their descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    total = 0.0
    for pid, spent in times.items():
        node = pid
        while node > 1:
            if node in roots:
                total += spent
                break
            node = parents.get(node, 0)
    return total


def settle(roots: list[int], *, idle: float = 0.05, window: float = 0.5, limit: float = 20) -> None:
    """Wait until ``roots`` are (nearly) idle: the previous run's aftermath (the requests
    wrk cut off when it stopped, their error logs) must not be charged to the next run."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = process_cpu(roots)
        time.sleep(window)
        if process_cpu(roots) - before <= idle * window:
            return


# ---------------------------------------------------------------- database and server


async def prepare_database(server: EmbeddedPostgres, settings: Settings) -> str:
    admin = await asyncpg.connect(server.url())
    try:
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = server.url(DATABASE)
    conn = await connect(url)
    try:
        await migrate(conn)
        await DataKeyStore().ensure_primary(conn, settings.keks)
    finally:
        await conn.close()
    return url


@contextlib.contextmanager
def api_server(
    env: dict[str, str], port: int, workers: int, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The multi-worker Sanic server as a child process; stopped (SIGINT, then harder)."""
    argv = [
        str(Path(sys.executable).parent / "sanic"),
        "bench.bench_api_server:create_bench_app",
        "--factory",
        "--workers",
        str(workers),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-logs",
        "--no-motd",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)


def wait_ready(base_url: str, log: Path, workers: int, seconds: float = 60) -> None:
    """Until /health/ready answers 200 and every worker has logged that it is ready."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, timeout=2) as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                ready = client.get("/health/ready").status_code == 200
                if ready and log.read_text(errors="replace").count("Worker ready") >= workers:
                    return
            time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"the API server did not become ready in {seconds:g}s:\n{tail}")


# ---------------------------------------------------------------- set-up through the API


async def gather_limited(limit: int, jobs: list[Any]) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with slots:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))


def expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")


async def register_students(bench: Bench, client: httpx.AsyncClient) -> None:
    run_tag = os.urandom(3).hex()

    async def one(i: int) -> tuple[str, str, str]:
        email = f"bench.student{i:05d}.{run_tag}@example.com"
        body = {
            "email": email,
            "password": PASSWORD,
            "full_name": f"Bench Student {i:05d}",
            "date_of_birth": f"2000-01-{1 + i % 28:02d}",
            "phone": f"+23480355{i:05d}",
            "consents": {"terms": True},
        }
        registered = await client.post("/v1/auth/register", json=body)
        expect(registered, 201, "register")
        login = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        expect(login, 200, "login")
        return (
            registered.headers["x-request-id"],
            login.headers["x-request-id"],
            login.json()["access_token"],
        )

    done = await gather_limited(16, [one(i) for i in range(bench.args.students)])
    bench.saw("POST /v1/auth/register", [r for r, _, _ in done])
    bench.saw("POST /v1/auth/login", [r for _, r, _ in done])
    bench.tokens = [t for _, _, t in done]


async def session_items(bench: Bench, client: httpx.AsyncClient) -> list[list[str]]:
    """Requests that start practice sessions: every student, the subjects in turn."""
    catalogue = await client.get("/v1/practice/exams")
    expect(catalogue, 200, "catalogue")
    subjects = [
        (exam["id"], subject["id"], subject["questions"])
        for exam in catalogue.json()["exams"]
        for subject in exam["subjects"]
    ]
    count = min(bench.args.questions, min(n for _, _, n in subjects))
    items = []
    for i, token in enumerate(bench.tokens):
        exam, subject, _ = subjects[i % len(subjects)]
        body = {"exam": exam, "subject": subject, "num_questions": count}
        items.append(["POST", "/v1/practice/sessions", token, json.dumps(body), str(i)])
    return items


def answer_items(bench: Bench, captured: list[str]) -> list[list[str]]:
    """One answer request per started session (each question: its first choice)."""
    items = []
    for line in captured:
        student, session_id, questions = line.split(" ", 2)
        answers = [
            {"question_id": question, "choice": choice}
            for question, _, choice in (pair.partition("=") for pair in questions.split(","))
        ]
        body = json.dumps({"answers": answers}, separators=(",", ":"))
        path = f"/v1/practice/sessions/{session_id}/answers"
        items.append(["POST", path, bench.tokens[int(student)], body])
    return items


# ---------------------------------------------------------------- wrk


_LUA_SAFE = re.compile(r"^[\x20-\x7e]*$")


def lua_string(value: str) -> str:
    if not _LUA_SAFE.match(value) or "]==]" in value:
        raise ValueError("bench data must be printable ASCII")
    return f"[==[{value}]==]"


def write_data(path: Path, items: list[list[str]], *, cycle: bool, capture: bool) -> None:
    lines = [
        "return {",
        f"cycle = {'true' if cycle else 'false'},",
        f"capture = {'true' if capture else 'false'},",
        "items = {",
    ]
    for item in items:
        lines.append("{" + ", ".join(lua_string(part) for part in item) + "},")
    lines.append("}}")
    path.write_text("\n".join(lines) + "\n")


def run_wrk(
    bench: Bench,
    label: str,
    items: list[list[str]],
    *,
    cycle: bool,
    seconds: float,
    capture: bool = False,
) -> Run:
    args, folder = bench.args, bench.folder
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    data, out, script = folder / f"{slug}.lua", folder / f"{slug}.out", folder / "bench.lua"
    write_data(data, items, cycle=cycle, capture=capture)
    if not script.exists():
        script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_DATA": str(data),
        "BENCH_OUT": str(out),
        "BENCH_THREADS": str(args.threads),
        "BENCH_RUN": f"{slug}-{os.urandom(2).hex()}",
    }
    argv = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "30s",
        "-s",
        str(script),
        bench.base_url,
    ]
    settle([bench.server_pid, bench.postgres_pid])
    spies = start_py_spy(bench, slug, seconds)
    roots = {"server": [bench.server_pid], "postgres": [bench.postgres_pid]}
    before = {name: process_cpu(pids) for name, pids in roots.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = dt.datetime.now(dt.UTC)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    ended = dt.datetime.now(dt.UTC)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for spy in spies:
        spy.wait(timeout=seconds + 30)
    cpu = {name: process_cpu(pids) - before[name] for name, pids in roots.items()}
    cpu["wrk"] = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    run = Run(label, cpu=cpu, load=os.getloadavg()[0], window=(began, ended))
    windows: list[tuple[float, float]] = []
    for line in out.read_text().splitlines():
        key, _, rest = line.partition(" ")
        if key == "requests":
            run.requests = int(rest)
        elif key == "duration_us":
            run.seconds = int(rest) / 1e6
        elif key == "errors":
            run.errors = [int(x) for x in rest.split()]
        elif key == "latency":
            name, value = rest.split()
            run.latency_us[name] = float(value)
        elif key == "spent":
            run.spent += int(rest)
        elif key == "window":
            first, last, exhausted = rest.split()
            windows.append((float(first), float(last)))
            run.exhausted = run.exhausted or exhausted == "true"
        elif key == "status":
            status, count = rest.split()
            run.statuses[int(status)] += int(count)
        elif key == "id":
            run.ids.append(rest)
        elif key == "capture":
            run.captured.append(rest)
    if run.exhausted and windows:
        # wrk reports its full -d even when the threads stopped early: time the work done
        run.seconds = max(last for _, last in windows) - min(first for first, _ in windows)
    return run


def start_py_spy(bench: Bench, slug: str, seconds: float) -> list[subprocess.Popen[bytes]]:
    """With ``--py-spy``: sample every Sanic worker during the run (collapsed stacks)."""
    if not bench.args.py_spy:
        return []
    workers = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and (entry / "stat").exists()
        and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == bench.server_pid
    ]
    folder = bench.args.py_spy_out
    folder.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [
                bench.args.py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds) - 1)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(folder / f"{slug}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in workers
    ]


def me_items(bench: Bench, path: str) -> list[list[str]]:
    return [["GET", path, token] for token in bench.tokens]


# ---------------------------------------------------------------- the audit log


async def stored_events(url: str, runs: list[Run]) -> dict[str, list[tuple[str, str, str]]]:
    """request id → the (action, route, outcome) of every stored event; and for each
    run, its events and flushes (one COPY is one transaction: its rows share an xmin)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT request_id, action, details->>'route' AS route, outcome FROM audit_events"
        )
        for run in runs:
            if run.window is not None:
                counts = await conn.fetchrow(
                    "SELECT count(*), count(DISTINCT xmin::text) FROM audit_events "
                    "WHERE occurred_at BETWEEN $1 AND $2",
                    *run.window,
                )
                assert counts is not None
                run.audit_events, run.audit_flushes = counts[0], counts[1]
    finally:
        await conn.close()
    events: dict[str, list[tuple[str, str, str]]] = {}
    for row in rows:
        events.setdefault(row["request_id"], []).append(
            (row["action"], row["route"] or "", row["outcome"])
        )
    return events


# ---------------------------------------------------------------- main


def fmt_ms(us: float) -> str:
    return f"{us / 1000:.1f}"


async def benchmark(bench: Bench, pg: EmbeddedPostgres, settings: Settings) -> None:
    args = bench.args
    url = await prepare_database(pg, settings)
    print(f"date      {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M:%S} UTC")
    print(
        f"machine   nproc {len(os.sched_getaffinity(0))} ({os.cpu_count()} CPUs), "
        f"{cpu_model()}, {platform.system()} {platform.release()}"
    )
    print(
        f"software  Python {sys.version.split()[0]}, Sanic {sanic.__version__}, "
        f"asyncpg {asyncpg.__version__}, {wrk_version()}"
    )
    print(f"database  {await server_facts(url)}")
    print(
        f"server    {args.workers} Sanic workers, 127.0.0.1, pool under examstutor_api, "
        f"ARGON2_PROFILE=light (set-up only), audit writer: "
        + (f"{args.writer} (NOT the app's settings)" if args.writer else "as the app builds it")
    )
    print(
        f"load      wrk -t{args.threads} -c{args.connections}, {args.students} students "
        f"(tokens rotated), GET: {args.rounds} rounds x {args.duration:g} s alternating, "
        f"then start sessions and answer them, {args.answer_duration:g} s each, "
        f"{args.questions}-question sessions"
    )
    print(flush=True)

    port = free_port()
    bench.base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **BENCH_ENV,
        "EXAMSTUTOR_HOME": str(bench.folder / "home"),
        "EXAMSTUTOR_DATABASE_URL": url,
        "EXAMSTUTOR_BENCH_CONFIG": json.dumps(SERVER_CONFIG),
        "EXAMSTUTOR_BENCH_WRITER": json.dumps(writer_options(args.writer)) if args.writer else "",
        "PYTHONPATH": str(ROOT),
    }
    log = bench.folder / "server.log"
    started = time.monotonic()
    bench.postgres_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    with api_server(env, port, args.workers, log) as process:
        bench.server_pid = process.pid
        await asyncio.to_thread(wait_ready, bench.base_url, log, args.workers)
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=bench.base_url, timeout=60, limits=limits) as client:
            await register_students(bench, client)
            print(
                f"set-up    {len(bench.tokens)} students registered and logged in "
                f"({time.monotonic() - started:.1f} s since the server started)",
                flush=True,
            )

            audited, baseline = me_items(bench, AUDITED_ME), me_items(bench, BASELINE_ME)
            for label, items in (("warm-up audited", audited), ("warm-up baseline", baseline)):
                warm = run_wrk(bench, label, items, cycle=True, seconds=args.warmup)
                progress(warm)
                bench.saw("GET /v1/me", warm.ids if "audited" in label else [])
            for round_no in range(args.rounds):
                order = [("audited", audited), ("baseline", baseline)]
                if round_no % 2:
                    order.reverse()
                for kind, items in order:
                    run = run_wrk(
                        bench, f"{kind} {round_no + 1}", items, cycle=True, seconds=args.duration
                    )
                    bench.runs.append(run)
                    if kind == "audited":
                        bench.saw("GET /v1/me", run.ids)
                    progress(run)

            starts = await session_items(bench, client)
        sessions = run_wrk(
            bench, "sessions", starts, cycle=True, seconds=args.answer_duration, capture=True
        )
        bench.runs.append(sessions)
        bench.saw("POST /v1/practice/sessions", sessions.ids)
        progress(sessions)
        answers = run_wrk(
            bench,
            "answers",
            answer_items(bench, sessions.captured),
            cycle=False,
            seconds=args.answer_duration,
        )
        bench.runs.append(answers)
        bench.saw("POST /v1/practice/sessions/{id}/answers", answers.ids)
        progress(answers)
    # the server has stopped: every answered request is behind us
    events = await stored_events(url, bench.runs)
    report(bench, events)


def cpu_ms(run: Run, name: str) -> float:
    return 1000 * run.cpu.get(name, 0.0) / run.requests if run.requests else 0.0


def progress(run: Run) -> None:
    print(
        f"  {run.label:<12} {run.ok_rate:7,.0f} 2xx/s  p99 {fmt_ms(run.latency_us['99']):>6} ms  "
        f"2xx {run.ok}/{run.requests}  CPU ms/request: server {cpu_ms(run, 'server'):.2f} "
        f"postgres {cpu_ms(run, 'postgres'):.2f} wrk {cpu_ms(run, 'wrk'):.2f}  "
        f"load {run.load:.1f}",
        flush=True,
    )


def report(bench: Bench, events: dict[str, list[tuple[str, str, str]]]) -> None:
    runs = {run.label: run for run in bench.runs}
    rounds = bench.args.rounds
    audited = [runs[f"audited {i + 1}"] for i in range(rounds)]
    baseline = [runs[f"baseline {i + 1}"] for i in range(rounds)]
    sessions, answers = runs["sessions"], runs["answers"]

    def pooled(group: list[Run]) -> tuple[float, float, float]:
        """2xx per second over all the group's runs, worst p99, CPU ms per request."""
        rate = sum(r.ok for r in group) / sum(r.seconds for r in group)
        p99 = max(r.latency_us["99"] for r in group)
        cpu = sum(r.cpu["server"] + r.cpu["postgres"] for r in group)
        return rate, p99, 1000 * cpu / sum(r.requests for r in group)

    a_rate, a_p99, a_cpu = pooled(audited)
    b_rate, b_p99, b_cpu = pooled(baseline)
    ratio = a_rate / b_rate
    print()
    print(
        f"{'route':<42}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}{'2xx':>7}{'non-2xx':>8}"
        f"{'CPU ms/req':>11}{'(db)':>6}{'events/flush':>13}"
    )
    for run in [*audited, *baseline, sessions, answers]:
        name = {
            "audited": f"GET /v1/me (audited), {run.label}",
            "baseline": f"GET /bench/me-unaudited, {run.label}",
            "sessions": "POST /v1/practice/sessions",
            "answers": "POST /v1/practice/sessions/{id}/answers",
        }[run.label.split()[0]]
        rate = run.ok_rate
        batch = f"{run.audit_events / run.audit_flushes:.1f}" if run.audit_flushes else "-"
        cpu = cpu_ms(run, "server") + cpu_ms(run, "postgres")
        print(
            f"{name:<42}{rate:>7,.0f}{fmt_ms(run.latency_us['50']):>8}"
            f"{fmt_ms(run.latency_us['99']):>8}{run.ok:>7}{run.requests - run.ok:>8}"
            f"{cpu:>11.2f}{cpu_ms(run, 'postgres'):>6.2f}{batch:>13}"
        )
        if any(run.errors):
            print(f"   socket errors (connect read write status timeout): {run.errors}")
    print()
    verdict = "met" if ratio >= 0.8 else "MISSED"
    print(
        f"audited/baseline GET /v1/me = {a_rate:,.0f} / {b_rate:,.0f} req/s = {ratio:.3f}   "
        f"goal >= 0.8  {verdict}   (p99 {fmt_ms(a_p99)} vs {fmt_ms(b_p99)} ms, worst round)"
    )
    pairs = [a.ok_rate / b.ok_rate for a, b in zip(audited, baseline, strict=True)]
    print(
        "per round: "
        + ", ".join(f"{pair:.2f}" for pair in pairs)
        + f"  (median {sorted(pairs)[len(pairs) // 2]:.2f})"
    )
    print(
        f"CPU per request (Sanic workers + PostgreSQL): audited {a_cpu:.2f} ms, baseline "
        f"{b_cpu:.2f} ms: where CPU is the limit, audited/baseline = {b_cpu / a_cpu:.2f}"
    )
    if answers.exhausted:
        print(
            f"answers: the {answers.spent} sessions were used up after {answers.seconds:.1f} s; "
            "the rate counts that time only"
        )

    print()
    print(f"{'audited route':<48}{'2xx seen':>10}{'stored':>10}{'lost':>7}")
    total_lost = 0
    for label, ids in bench.seen.items():
        stored = sum(1 for rid in ids if rid in events)
        lost = len(ids) - stored
        total_lost += lost
        print(f"{label:<48}{len(ids):>10}{stored:>10}{lost:>7}")
    doubled = {rid: rows for rid, rows in events.items() if len(rows) > 1}
    duplicates = len(doubled)
    for rid, rows in list(doubled.items())[:5]:
        print(f"   request id {rid} has {len(rows)} events: {rows}")
    baseline_events = sum(
        1 for rows in events.values() for _, route, _ in rows if route.endswith("unaudited")
    )
    seen_ids = {rid for ids in bench.seen.values() for rid in ids}
    unseen = sum(1 for rid in events if rid not in seen_ids)
    print(
        f"lost: {total_lost}   (request ids with more than one event: {duplicates}; "
        f"events of the baseline route: {baseline_events}; stored events whose 2xx "
        f"the clients never counted: {unseen}, i.e. non-2xx answers and requests "
        f"in flight when wrk stopped)"
    )
    if total_lost or duplicates or baseline_events:
        raise SystemExit(1)


def writer_options(text: str) -> dict[str, float]:
    """``flushers=1,linger=0.002`` → AuditWriter keyword arguments (diagnosis only)."""
    options: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in ("flushers", "linger", "max_batch"):
            raise SystemExit(f"--writer: unknown setting {name!r}")
        options[name.strip()] = float(value) if name.strip() == "linger" else int(value)
    return options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=4, help="seconds per GET run")
    parser.add_argument("--rounds", type=int, default=5, help="audited/baseline pairs")
    parser.add_argument("--warmup", type=float, default=3, help="seconds per warm-up run")
    parser.add_argument(
        "--answer-duration",
        type=float,
        default=6,
        help="seconds starting sessions, then at most as long answering them",
    )
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--questions", type=int, default=10, help="questions per session")
    parser.add_argument("--workers", type=int, default=2, help="Sanic workers")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--writer",
        default="",
        help="diagnosis only: audit writer settings instead of the app's, "
        "e.g. flushers=1,linger=0.002",
    )
    parser.add_argument(
        "--py-spy", default="", help="path of a py-spy binary: profile the workers (diagnosis)"
    )
    parser.add_argument(
        "--py-spy-out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "bench-api-profiles",
        help="py-spy output folder",
    )
    return parser.parse_args(argv)


def run() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    settings = Settings.from_env({**BENCH_ENV, "EXAMSTUTOR_HOME": str(folder / "home")})
    pg = EmbeddedPostgres(folder / "pg")
    try:
        pg.start()
        asyncio.run(benchmark(Bench(args, folder), pg, settings))
    finally:
        pg.destroy()
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    run()
