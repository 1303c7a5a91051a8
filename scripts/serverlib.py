"""The one way every script starts and stops the release server: on 127.0.0.1, on a free port, with its log in a
file beside the database, and never left running: stop() asks it to shut down (SIGTERM) and returns its exit
status, kill() is SIGKILL, and leaving a `with Server(...)` block kills whatever still runs. scripts/with-server
is the same for bash scripts."""

import http.client
import json
import os
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
    def __init__(self, database, *, durability="full", log_level="info", extra=(), binary=BINARY):
        self.database = database
        self.command = [binary, "--database", database, "--durability", durability, "--log-level", log_level,
                        *extra]
        self.log_path = database + ".server.log"
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
