"""The loopback cluster: PostgreSQL, Redis and HAProxy from Debian's packages, two
``lpm-guard serve`` nodes behind HAProxy and ``lpm-guard worker`` processes, all on 127.0.0.1.

``deploy/local-cluster`` runs it in the foreground; the cluster tests and ``bench/cluster.py``
drive it from Python (stop and restart a node, Redis, a worker). Every node shares the database,
the key directory (``LPM_KEYS_DIR``), the media directory (``LPM_MEDIA_DIR``) and Redis
(``LPM_REDIS_URL``); each has its own data directory, node id and URL (``LPM_NODE_URL``).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _pg_bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    return Path(found[-1]).parent


def _need(program: str, package: str) -> str:
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/usr/bin")
    if path is None:
        raise RuntimeError(f"{program} is not installed (apt-get install {package})")
    return path


@dataclass
class Process:
    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
        code = self.popen.returncode
        self.popen = None
        return code


@dataclass
class Cluster:
    root: Path
    nodes: tuple[str, ...] = ("a", "b")
    workers: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    lb_port: int = field(default_factory=free_port)
    node_ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.nodes:
            self.node_ports.setdefault(name, free_port())
        (self.root / "logs").mkdir(parents=True, exist_ok=True)

    # -- addresses ---------------------------------------------------------------------------

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.pg_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def url(self) -> str:
        """HAProxy's URL: what clients use."""
        return f"http://127.0.0.1:{self.lb_port}"

    def node_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.node_ports[name]}"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def media_dir(self) -> Path:
        return self.root / "media"

    def env(self, node_id: str, **overrides: str) -> dict[str, str]:
        """The environment of one lpm-guard process of this cluster."""
        env = {
            **os.environ,
            "LPM_DATABASE_URL": self.database_url,
            "LPM_REDIS_URL": self.redis_url,
            "LPM_KEYS_DIR": str(self.keys_dir),
            "LPM_MEDIA_DIR": str(self.media_dir),
            "LPM_DATA_DIR": str(self.root / "nodes" / node_id),
            "LPM_PUBLIC_URL": self.url,
            "LPM_NODE_ID": node_id,
            "LPM_LOG_LEVEL": "WARNING",
            "LPM_CHECKPOINT_INTERVAL_S": "5",
            "LPM_NODE_LEASE_S": "4",
            "LPM_LIVE_SPEECH_WORKERS": "1",
            "LPM_TRUSTED_PROXIES": "127.0.0.1",  # HAProxy's X-Forwarded-For (option forwardfor)
            **self.extra_env,
        }
        env.update(overrides)
        return env

    # -- services ----------------------------------------------------------------------------

    def start_postgres(self) -> None:
        bindir = _pg_bindir()
        home = self.root / "pg"
        home.mkdir(exist_ok=True)
        owner = "postgres" if os.geteuid() == 0 else None
        if owner:
            entry = pwd.getpwnam(owner)
            os.chown(home, entry.pw_uid, entry.pw_gid)
            os.chmod(self.root, 0o755)

        def run(args: list[str]) -> None:
            full = ["runuser", "-u", owner, "--", *args] if owner else args
            subprocess.run(full, check=True, capture_output=True)

        data = home / "data"
        if not data.exists():
            run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                 "-E", "UTF8", "--no-sync"])  # fmt: skip
        options = (
            f"-k {home} -c listen_addresses=127.0.0.1 -p {self.pg_port} -c fsync=off "
            "-c max_connections=200"
        )
        run([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
             str(home / "log"), "start"])  # fmt: skip
        self._pg = (bindir, data, run)

    def stop_postgres(self) -> None:
        pg = getattr(self, "_pg", None)
        if pg is not None:
            bindir, data, run = pg
            with contextlib.suppress(subprocess.CalledProcessError):
                run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"])
            self._pg = None

    def start_redis(self) -> None:
        redis = _need("redis-server", "redis-server")
        args = [redis, "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--daemonize", "no"]  # fmt: skip
        self._spawn("redis", args, dict(os.environ))
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.redis_port), 0.2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis did not start") from None
                time.sleep(0.05)

    def stop_redis(self) -> None:
        self.stop("redis")

    def start_haproxy(self) -> None:
        haproxy = _need("haproxy", "haproxy")
        servers = "\n".join(
            f"    server {n} 127.0.0.1:{p} check inter 1s fall 2 rise 1"
            for n, p in self.node_ports.items()
        )
        config = self.root / "haproxy.cfg"
        config.write_text(
            f"""global
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 3600s
    option forwardfor
    option redispatch
    retries 2
frontend lpm
    bind 127.0.0.1:{self.lb_port}
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
{servers}
"""
        )
        self._spawn("haproxy", [haproxy, "-f", str(config), "-db"], dict(os.environ))

    def upgrade(self) -> None:
        """Migrations, procrastinate's schema and the keys, once, before any node starts."""
        subprocess.run(
            [sys.executable, "-m", "lpm_guard", "db", "upgrade"],
            env=self.env("setup"),
            check=True,
            capture_output=True,
        )

    def start_node(self, name: str, **env: str) -> Process:
        args = [sys.executable, "-m", "lpm_guard", "serve", "--port", str(self.node_ports[name])]
        overrides = {"LPM_NODE_URL": self.node_url(name), **env}
        return self._spawn(f"node-{name}", args, self.env(f"node-{name}", **overrides))

    def wait_ready(self, name: str, timeout: float = 120.0) -> None:
        process = self.processes[f"node-{name}"]
        deadline = time.monotonic() + timeout
        while True:
            if not process.alive:
                raise RuntimeError(f"node {name} exited:\n{self.tail(f'node-{name}')}")
            try:
                if httpx.get(f"{self.node_url(name)}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {name} did not start:\n{self.tail(f'node-{name}')}")
            time.sleep(0.2)

    def start_worker(self, n: int) -> Process:
        args = [sys.executable, "-m", "lpm_guard", "worker"]
        return self._spawn(f"worker-{n}", args, self.env(f"worker-{n}"))

    def wait_balanced(self, timeout: float = 20.0) -> None:
        """Until HAProxy answers, and then two of its health checks (every second: a node
        just started is back in rotation)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"HAProxy does not reach the nodes:\n{self.tail('haproxy')}")
            time.sleep(0.2)
        time.sleep(2.2)

    # -- the whole ---------------------------------------------------------------------------

    def start(self) -> Cluster:
        self.start_postgres()
        self.start_redis()
        self.upgrade()
        for name in self.nodes:
            self.start_node(name)
        for name in self.nodes:
            self.wait_ready(name)
        for n in range(1, self.workers + 1):
            self.start_worker(n)
        self.start_haproxy()
        self.wait_balanced()
        return self

    def stop(self, name: str, sig: int = signal.SIGTERM) -> int | None:
        process = self.processes.pop(name, None)
        return process.stop(sig) if process is not None else None

    def close(self) -> None:
        for name in list(self.processes):
            if name.startswith("haproxy"):
                self.stop(name)
        for name in list(self.processes):
            if name.startswith(("node-", "worker-")):
                self.stop(name)
        for name in list(self.processes):
            self.stop(name)
        self.stop_postgres()

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *_: object) -> None:
        self.close()

    def describe(self) -> dict[str, object]:
        return {
            "url": self.url,
            "nodes": {n: self.node_url(n) for n in self.nodes},
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "keys_dir": str(self.keys_dir),
            "media_dir": str(self.media_dir),
            "logs": str(self.root / "logs"),
            "processes": {n: p.popen.pid for n, p in self.processes.items() if p.popen},
        }

    def tail(self, name: str, lines: int = 40) -> str:
        path = self.root / "logs" / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        self.stop(name)
        process = Process(name, args, env, self.root / "logs" / f"{name}.log")
        process.start()
        self.processes[name] = process
        return process


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="local-cluster",
        description="PostgreSQL, Redis, HAProxy, two lpm-guard nodes and a worker on loopback; "
        "runs until interrupted, then stops them all.",
    )
    parser.add_argument("--dir", type=Path, help="Its data and logs (default: a temp dir).")
    parser.add_argument("--workers", type=int, default=1, help="lpm-guard worker processes.")
    args = parser.parse_args(argv)
    root = args.dir or Path(tempfile.mkdtemp(prefix="lpm-cluster-"))
    stop = {"now": False}

    def interrupted(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    with Cluster(root, workers=args.workers) as cluster:
        print(json.dumps(cluster.describe(), indent=2), flush=True)
        while not stop["now"]:
            for name, process in list(cluster.processes.items()):
                if not process.alive:
                    print(f"{name} exited; see {process.log}", file=sys.stderr, flush=True)
                    stop["now"] = True
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
