"""Process and port helpers shared by sealift's end-to-end tests.

Every service a test starts binds to 127.0.0.1 on a free port, logs into the test's temporary
directory, and is stopped by PID when the test ends (also when it fails).
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

SRC = os.environ.get("SEALIFT_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("SEALIFT_BUILD", os.path.join(SRC, "build"))
SEALIFT = os.environ.get("SEALIFT_BIN", os.path.join(BUILD, "sealift"))
PYTHON = "/usr/bin/python3"  # Debian's python3, which has python3-kubernetes


def _ephemeral_low():
    """The lowest port the kernel hands to outgoing connections (ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """Returns a TCP port on 127.0.0.1 that was free a moment ago, chosen below the kernel's
    ephemeral range when there is room: no outgoing connection is ever given such a port, so a
    service that stops and starts again on its port (the webhook port the API server calls, an
    API server or a registry restarted) cannot find it taken in between by a client connection
    of some other test, which an ephemeral port can be."""
    low = _ephemeral_low()
    if low > 11000:
        rng = random.SystemRandom()
        for _ in range(200):
            port = rng.randrange(10000, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Polls predicate() until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the service may not be up yet
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" +
                         (f" (last error: {last_exc})" if last_exc else ""))


def wait_port(port, timeout=30.0):
    def up():
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    return wait_for(up, timeout, what=f"127.0.0.1:{port} to accept connections")


class Proc:
    """A started background process with its log file; stop() ends it by PID."""

    def __init__(self, args, log_path, env=None, cwd=None):
        self.args = [str(a) for a in args]
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.popen = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                      start_new_session=True)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(5)
        self.log.close()
        return self.popen.returncode

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class TempDirTestCase(unittest.TestCase):
    """A TestCase with self.tmp (removed at the end unless SEALIFT_KEEP_TMP is set) and
    self.start(args) for background processes stopped in reverse order during cleanup.
    A failing test prints the tail of each process log."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sealift-e2e-")
        self._procs = []
        self.addCleanup(self._cleanup)

    def start(self, args, name, env=None, cwd=None):
        p = Proc(args, os.path.join(self.tmp, f"{name}.log"), env=env, cwd=cwd)
        p.name = name
        self._procs.append(p)
        return p

    def _cleanup(self):
        failed = False
        outcome = getattr(self, "_outcome", None)
        if outcome is not None:
            result = getattr(outcome, "result", None)
            if result is not None:
                failed = any(t is self for t, _ in result.failures + result.errors)
        for p in reversed(self._procs):
            p.stop()
            if failed or os.environ.get("SEALIFT_E2E_VERBOSE"):
                tail = p.output()[-4000:]
                print(f"\n--- {p.name} log (tail) ---\n{tail}")
        if not os.environ.get("SEALIFT_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)


def run(args, check=True, input=None, env=None, timeout=120):
    """Runs a command, returns CompletedProcess with text stdout/stderr."""
    cp = subprocess.run([str(a) for a in args], capture_output=True, text=True, input=input,
                        env=env, timeout=timeout)
    if check and cp.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {cp.returncode}:\n"
                             f"{cp.stdout}\n{cp.stderr}")
    return cp


def peer(name):
    """Path of a client test peer (cosign, oras, ...) that hack/peers.sh built from the Go module
    proxy; builds it first when it is not cached yet (hack/test.sh builds them all up front)."""
    out = subprocess.run(["bash", os.path.join(SRC, "hack", "peers.sh"), "build", name],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise AssertionError(f"building the test peer {name} failed:\n{out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1]
