"""The controller's HTTP listener (/healthz, /metrics, git push hooks) against clients that try
to take it down, with a real `sealift controller` and a real kube-apiserver:
- a slow-loris client (one byte every 2 s, never idle for long) is disconnected once its time
  to send a whole request is up, while /healthz keeps answering;
- connections beyond the cap (256) are closed at once, and once the idle ones are gone a fresh
  client gets /healthz;
- a push hook whose API reads are slow does not hold up /healthz. This one runs against the
  Python API stand-in: it needs an API server that turns slow on demand (its latency hook),
  which a real kube-apiserver cannot do."""
import socket
import threading
import time
import unittest
import urllib.error
import urllib.request

import procs
from controller import Controller
from kube import Cluster, StandIn

GITSOURCE = """
apiVersion: sealift.dev/v1beta1
kind: GitSource
metadata: {name: platform, namespace: default}
spec:
  url: https://git.invalid/platform.git
  interval: 1h
  webhook: {secretRef: {name: hook}}
"""


class HttpListenerTest(procs.TempDirTestCase):
    def make_api(self):
        return Cluster(self.tmp)

    def setUp(self):
        super().setUp()
        self.kube = self.make_api()
        self.kube.start(self)
        self.kube.install()
        self.ctl = Controller(self, self.kube)
        self.ctl.wait_ready()
        host, port = self.ctl.metrics_addr.rsplit(":", 1)
        self.addr = (host, int(port))

    def healthz(self, timeout=3):
        """/healthz from a fresh connection: the status, or None when it did not answer."""
        try:
            return self.ctl.get("/healthz", timeout=timeout)[0]
        except (OSError, urllib.error.URLError):
            return None

    def connect(self):
        s = socket.create_connection(self.addr, timeout=5)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def closed(s, timeout):
        """True when the server closed s within timeout seconds."""
        s.settimeout(timeout)
        try:
            return s.recv(1) == b""
        except socket.timeout:
            return False
        except OSError:
            return True

    def test_slow_loris_is_disconnected(self):
        request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40 + b"\r\n\r\n"
        s = self.connect()
        sent, closed = 0, False
        while sent < len(request) and not closed:
            try:
                s.sendall(request[sent:sent + 1])
            except OSError:
                closed = True
                break
            sent += 1
            closed = self.closed(s, 2)
            if not closed:
                self.assertEqual(self.healthz(), 200)
        self.assertTrue(closed, "a request trickling in byte by byte was never cut off")
        self.assertLess(sent, len(request))
        self.assertEqual(self.healthz(), 200)

    def test_connections_beyond_the_cap_are_closed(self):
        held = [self.connect() for _ in range(256)]
        time.sleep(0.5)  # all accepted
        extra = [self.connect() for _ in range(20)]
        self.assertTrue(all(self.closed(s, 5) for s in extra))
        # the held ones go (their time to send a request is up, or the client leaves) ...
        for s in held:
            s.close()
        # ... and a fresh client is served again
        procs.wait_for(lambda: self.healthz() == 200, timeout=30, what="/healthz after the flood")


class SlowApiPushHookTest(HttpListenerTest):
    """Needs the stand-in: a real kube-apiserver cannot be made slow on demand."""

    def make_api(self):
        return StandIn(self.tmp)

    test_slow_loris_is_disconnected = None
    test_connections_beyond_the_cap_are_closed = None

    def test_push_hook_with_slow_api_does_not_delay_healthz(self):
        self.kube.kubectl("create", "secret", "generic", "hook", "--from-literal=token=t0k")
        self.kube.kubectl("apply", "-f", "-", input=GITSOURCE)
        url = f"http://{self.ctl.metrics_addr}/hooks/gitsource/default/platform"
        answer = {}

        def post():
            req = urllib.request.Request(url, data=b"{}", method="POST",
                                         headers={"X-Gitlab-Token": "t0k"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    answer["status"] = r.status
            except urllib.error.HTTPError as e:
                answer["status"] = e.code

        # the next API requests (the hook's reads among them) take 6 s each
        self.kube.admin("latency", ms=6000, count=4)
        t = threading.Thread(target=post, daemon=True)
        t.start()
        time.sleep(0.5)
        for _ in range(3):
            self.assertEqual(self.healthz(timeout=2), 200)
        t.join(40)
        self.assertIn(answer.get("status"), (202, 503))


if __name__ == "__main__":
    unittest.main(verbosity=2)
