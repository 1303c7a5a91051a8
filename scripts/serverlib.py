"""The one way every script starts and stops the release server: on 127.0.0.1, on a free port, with its log in a
file beside the database, and never left running: stop() asks it to shut down (SIGTERM) and returns its exit
status, kill() is SIGKILL, and leaving a `with Server(...)` block kills whatever still runs. scripts/with-server
is the same for bash scripts."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".build", "release", "account-service")


class ServerError(Exception):
    pass


def build_release(product="account-service"):
    subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)


def free_port():
    """A port that nothing listens on now (the kernel's choice); the server binds it a moment later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, database, *, durability="full", log_level="info", extra=(), binary=BINARY, log_path=None):
        self.database = database
        self.command = [binary, "--database", database, "--durability", durability, "--log-level", log_level,
                        *extra]
        self.log_path = log_path or database + ".server.log"
        self.process = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        """Starts the server (on a new free port each time) and waits until it answers GET /ping."""
        self.port = free_port()
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(self.command + ["--port", str(self.port)], stdout=log,
                                            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"the server exited at start with status {self.process.returncode}:\n"
                                  f"{self.log_tail()}")
            try:
                if self.request("GET", "/ping", timeout=1)[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise ServerError(f"the server did not answer /ping within {timeout} s:\n{self.log_tail()}")

    def request(self, method, path, body=None, headers=None, timeout=30):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def get_json(self, path):
        status, body = self.request("GET", path)
        if status != 200:
            raise ServerError(f"GET {path} answered {status}: {body!r}")
        return json.loads(body)

    def signal(self, signum):
        self.process.send_signal(signum)

    def stop(self, timeout=30):
        """SIGTERM, then waits; returns the exit status. A server still running after `timeout` is killed and
        that is an error."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError(f"the server did not stop within {timeout} s of SIGTERM")

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def resident_mb(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def open_descriptors(self):
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def log_tail(self, lines=20):
        try:
            with open(self.log_path) as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()
        return False


class Postgres:
    """A throw-away PostgreSQL server for a script: a cluster in a new folder, on a free port of 127.0.0.1, run as
    the `postgres` user when the script runs as root (PostgreSQL refuses root), with fsync on (the benchmark
    measures real commits). `with Postgres() as pg:` stops it and removes its folder; `pg.database()` creates a
    database and returns its URL. Debian's `postgresql` package provides the programs."""

    def __init__(self, fsync=True, primary=None):
        versions = sorted((int(v) for v in os.listdir("/usr/lib/postgresql") if v.isdigit()), reverse=True) \
            if os.path.isdir("/usr/lib/postgresql") else []
        if not versions:
            raise ServerError("PostgreSQL's programs are not installed (Debian: apt-get install postgresql)")
        self.bin = f"/usr/lib/postgresql/{versions[0]}/bin"
        self.fsync = fsync
        self.primary = primary
        self.folder = None
        self.port = None

    def _as_owner(self, command):
        return ["runuser", "-u", "postgres", "--"] + command if os.geteuid() == 0 else command

    def _run(self, command, **options):
        # In the server's own folder: the postgres user may not be able to enter the caller's working directory
        # (a checkout in a 0700 folder such as /root), and initdb and pg_ctl refuse to run there.
        return subprocess.run(self._as_owner(command), cwd=self.folder, **options)

    def start(self):
        import tempfile
        self.folder = tempfile.mkdtemp(prefix="account-service-postgres-")
        if os.geteuid() == 0:
            subprocess.run(["chown", "postgres", self.folder], check=True)
        data = os.path.join(self.folder, "data")
        if self.primary:
            # A streaming standby: a base backup of the primary that starts in recovery (-R) and follows it.
            self._run([f"{self.bin}/pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", "postgres",
                       "-D", data, "-R", "-X", "stream", "-c", "fast"], check=True)
        else:
            self._run([f"{self.bin}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                       "--no-sync"], check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                   f"-c shared_buffers=256MB -c fsync={'on' if self.fsync else 'off'}")
        self._run([f"{self.bin}/pg_ctl", "start", "-w", "-s", "-D", data, "-l", os.path.join(self.folder, "server.log"),
                   "-o", options], check=True)
        return self

    def url(self, database="postgres"):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def standby(self):
        """A streaming standby of this server (pg_basebackup -R), started on a port of its own with the same
        settings (a standby needs max_connections at least the primary's)."""
        return Postgres(fsync=self.fsync, primary=self).start()

    def cpu_seconds(self):
        """User and system CPU seconds of the server's processes (the postmaster and its children) so far."""
        with open(os.path.join(self.folder, "data", "postmaster.pid")) as pid_file:
            postmaster = pid_file.readline().strip()
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if entry == postmaster or fields[1] == postmaster:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def psql(self, sql, database="postgres"):
        return subprocess.run([f"{self.bin}/psql", "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", "postgres", "-d", database, "-c", sql], check=True, capture_output=True,
                              text=True).stdout.strip()

    def database(self, name):
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self):
        if self.folder:
            self._run([f"{self.bin}/pg_ctl", "stop", "-s", "-m", "fast", "-D", os.path.join(self.folder, "data")],
                      stderr=subprocess.DEVNULL)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
