#!/usr/bin/env python3
"""Replicas on one PostgreSQL database: create-run throughput with 1 and 2 replicas (anchor: one
server on SQLite, in the same run) and the time a replica takes to take over the runs of a
replica killed with `kill -9`.

    bench/replicas.py [RUNS] [TAKEOVERS]        # defaults: 300 runs, 3 takeovers

Starts a throwaway PostgreSQL 15 (initdb/pg_ctl as the `postgres` user, on a free loopback port)
and the servers it measures, and stops them all. PENSTOCK_BIN picks the binary (default
target/release/penstock). Prints one table; figures go into the issue's closing note.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PENSTOCK_BIN", os.path.join(ROOT, "target", "release", "penstock"))
PG_BIN = "/usr/lib/postgresql/15/bin"
CLIENTS = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway PostgreSQL server owned by the `postgres` user."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="penstock-bench-pg-")
        os.chmod(self.dir, 0o777)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(as_pg + [f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                                "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run(as_pg + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                                os.path.join(self.dir, "log"), "-w", "-o",
                                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                                "-c fsync=off -c max_connections=200", "start"],
                       check=True, capture_output=True)
        self.as_pg = as_pg
        self.n = 0

    def database(self):
        """A fresh database's URL."""
        self.n += 1
        name = f"bench{self.n}"
        subprocess.run(self.as_pg + [f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p",
                                     str(self.port), "-U", "postgres", name],
                       check=True, capture_output=True)
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        subprocess.run(self.as_pg + [f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate",
                                     "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    def __init__(self, database=None, machine="bench-a"):
        self.home = tempfile.mkdtemp(prefix="penstock-bench-home-")
        args = [BIN, "server", "--port", "0", "--home", self.home, "--no-examples"]
        if database:
            args += ["--database", database]
        env = dict(os.environ, PENSTOCK_HOSTNAME=machine)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, text=True)
        first = self.proc.stdout.readline()
        self.url = next(w for w in first.split() if w.startswith("http://"))
        threading.Thread(target=lambda: self.proc.stdout.read(), daemon=True).start()

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.home, ignore_errors=True)


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"{}")


def spec(command):
    return {
        "pipelineInfo": {"name": "bench"}, "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-t": {"container": {
            "image": "alpine", "command": command}}}},
        "components": {"comp-t": {"executorLabel": "exec-t"}},
        "root": {"dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"},
                                         "taskInfo": {"name": "t"}}}}},
    }


def create_throughput(servers, runs):
    """Runs acknowledged per second, CLIENTS threads spread over the servers."""
    body = {"display_name": "bench", "pipeline_spec": spec(["true"])}
    per_client = runs // CLIENTS
    errors = []

    def client(i):
        url = servers[i % len(servers)].url + "/apis/v2beta1/runs"
        for _ in range(per_client):
            try:
                call(url, body)
            except Exception as e:  # counted, reported
                errors.append(str(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        print(f"  {len(errors)} create calls failed, e.g. {errors[0]}", file=sys.stderr)
    return per_client * CLIENTS / elapsed


def takeover(pg):
    """Seconds from `kill -9` of the owner to the other replica executing the run again."""
    database = pg.database()
    a = Server(database, "machine-a")
    b = Server(database, "machine-b")
    try:
        run = call(a.url + "/apis/v2beta1/runs",
                   {"display_name": "takeover", "pipeline_spec": spec(["sleep", "120"])})
        run_id = run["run_id"]

        def nap():
            got = call(f"{b.url}/apis/v2beta1/runs/{run_id}")
            tasks = got.get("run_details", {}).get("task_details", [])
            return next((t["penstock"] for t in tasks if t.get("penstock", {}).get("path") == "t"),
                        {})

        while nap().get("state") != "RUNNING":
            time.sleep(0.05)
        # Let a renewal happen, so the lease is a full one, as in a long-running run.
        time.sleep(5.5)
        killed = time.perf_counter()
        a.kill()
        while not (nap().get("attempts") == 2 and nap().get("state") == "RUNNING"):
            if time.perf_counter() - killed > 40:
                print(call(f"{b.url}/apis/v2beta1/runs/{run_id}"), file=sys.stderr)
                raise RuntimeError("no takeover within 120 s")
            time.sleep(0.1)
        took = time.perf_counter() - killed
        call(f"{b.url}/apis/v2beta1/runs/{run_id}:terminate", {})
        return took
    finally:
        a.stop()
        b.stop()


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    takeovers = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if not os.path.exists(BIN):
        sys.exit(f"bench/replicas.py: {BIN} is missing: run `cargo build --release -p penstock`"
                 " or set PENSTOCK_BIN")
    pg = Postgres()
    try:
        rows = []
        sqlite = Server()
        try:
            rows.append(("1 server, SQLite (anchor)", create_throughput([sqlite], runs)))
        finally:
            sqlite.stop()
        for n in (1, 2):
            database = pg.database()
            servers = [Server(database, f"machine-{i}") for i in range(n)]
            try:
                rows.append((f"{n} replica(s), PostgreSQL", create_throughput(servers, runs)))
            finally:
                for s in servers:
                    s.stop()
        anchor = rows[0][1]
        print(f"create run, {runs} runs from {CLIENTS} clients (each run executes `true`):")
        print("| setup | runs/s | vs SQLite |")
        print("|---|---|---|")
        for name, rate in rows:
            print(f"| {name} | {rate:.0f} | {rate / anchor:.2f}x |")
        times = [takeover(pg) for _ in range(takeovers)]
        print(f"takeover after kill -9 (lease 15 s, claims every 5 s): "
              + ", ".join(f"{t:.1f} s" for t in times)
              + f" (max {max(times):.1f} s)")
    finally:
        pg.stop()


if __name__ == "__main__":
    main()
