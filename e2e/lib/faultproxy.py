#!/usr/bin/python3
"""A fault-injecting HTTP proxy for registry tests.

Forwards every request to --upstream, except that the first --count requests whose path
contains --match (default: every request) get a fault instead:
  503    -> 503 Service Unavailable with a registry-style error body
  429    -> 429 Too Many Requests with Retry-After: 1
  drop   -> the connection is closed without any response
  mixed  -> 503, 429 and drop in turn
  none   -> no faults
  baddigest -> the response passes, but its Docker-Content-Digest header names another digest
  corrupt   -> the response passes, but one byte of its body is flipped
  hold      -> the request is never forwarded and never answered: the proxy keeps the client's
               connection open until the client goes away (a request surely in flight)
  hold-response -> the request is forwarded and the upstream has answered it, but the answer is
               never passed on (the client waits until it goes away)
  gate      -> the request waits until the file --gate-file exists, then passes (a test decides
               when a writer's request lands)
With --method M only requests with that method count as matching.
With --paginate-tags the proxy pages tag lists itself (like registries newer than
distribution 2.8 do): it honours ?n= and ?last= and sends Link: <...>; rel="next"; each page
served is logged as "PAGE <path>".
With --slow-ms N every 64 KiB of a response body is delayed by N ms (a slow link), so a test can
act while a transfer is surely in flight.
With --chaos-rate R every other request gets, with probability R, one fault drawn at random:
  5xx (500, 502 or 503), 429 with Retry-After, reset (connection closed without an answer),
  cut (the answer's body stops halfway and the connection closes) or slow (answered after
  --chaos-slow-ms). --chaos-file F: only while F exists. --seed makes the draws repeatable.
With --stats FILE the proxy keeps FILE updated with a JSON object of counts: requests and faults
by kind, and requests_faulty_phase: requests seen while faults were on (rewritten at most twice
a second and when the proxy is stopped with SIGTERM).
Each fault is logged as a line "FAULT <kind> <method> <path>" on stdout.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import urllib.parse
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_log_lock = threading.Lock()


def log_line(text):
    """One whole line per call: handler threads must not interleave their log lines (tests count
    them)."""
    with _log_lock:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer",
       "upgrade", "proxy-authorization", "proxy-authenticate"}


CHAOS_KINDS = ["5xx", "429", "reset", "cut", "slow"]


class State:
    def __init__(self, mode, count, match, slow_ms=0, paginate=False, method="", gate_file="",
                 chaos_rate=0.0, chaos_file="", chaos_slow_ms=1500, seed=None, stats=""):
        self.gate_file = gate_file
        self.chaos_rate = chaos_rate
        self.chaos_file = chaos_file
        self.chaos_slow_ms = chaos_slow_ms
        self.rng = random.Random(seed)
        self.stats_path = stats
        self.counts = {"requests": 0}
        self.stats_written = 0.0
        self.method = method
        self.slow_ms = slow_ms
        self.paginate = paginate
        self.mode = mode
        self.left = count
        self.match = match
        self.n = 0
        self.lock = threading.Lock()

    def count(self, key):
        """Counts one request or fault; rewrites the stats file at most twice a second."""
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
            now = time.monotonic()
            if self.stats_path and now - self.stats_written >= 0.5:
                self.stats_written = now
                self.write_stats_locked()

    def write_stats_locked(self):
        if not self.stats_path:
            return
        tmp = self.stats_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.counts, f)
        os.replace(tmp, self.stats_path)

    def chaos_fault(self):
        if self.chaos_rate <= 0 or (self.chaos_file and not os.path.exists(self.chaos_file)):
            return None
        self.count("requests_faulty_phase")
        with self.lock:
            if self.rng.random() >= self.chaos_rate:
                return None
            return self.rng.choice(CHAOS_KINDS)

    def next_fault(self, method, path):
        with self.lock:
            if self.mode == "none" or self.left <= 0 or self.match not in path:
                return None
            if self.method and method != self.method:
                return None
            self.left -= 1
            self.n += 1
            if self.mode == "mixed":
                return ["503", "429", "drop"][(self.n - 1) % 3]
            return self.mode


def make_handler(state, upstream):
    host, _, port = upstream.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def fault(self, kind):
            log_line(f"FAULT {kind} {self.command} {self.path}")
            if kind in ("drop", "reset"):
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            status = {"503": 503, "429": 429}.get(kind) or state.rng.choice([500, 502, 503])
            body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS" if status == 429 else
                                           "UNAVAILABLE", "message": "injected fault"}]})
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def hold(self, kind):
            """Logs the fault, then answers nothing until the client closes its connection."""
            log_line(f"FAULT {kind} {self.command} {self.path}")
            self.close_connection = True
            try:
                while self.connection.recv(1 << 16):
                    pass
            except OSError:
                pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            state.count("requests")
            kind = state.next_fault(self.command, self.path)
            chaos = None if kind else state.chaos_fault()
            if chaos:
                state.count(chaos)
                if chaos in ("5xx", "429", "reset"):
                    self.fault(chaos)
                    return
                log_line(f"FAULT {chaos} {self.command} {self.path}")
                if chaos == "slow":
                    time.sleep(state.chaos_slow_ms / 1000.0)
                elif self.command != "GET":
                    chaos = None  # only a GET answer has a body worth cutting
            if kind in ("503", "429", "drop"):
                self.fault(kind)
                return
            if kind == "gate":
                log_line(f"FAULT gate {self.command} {self.path}")
                while not os.path.exists(state.gate_file):
                    time.sleep(0.02)
            if kind == "hold":
                self.hold(kind)
                return
            if kind and kind not in ("hold-response", "gate"):
                log_line(f"FAULT {kind} {self.command} {self.path}")
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            url = urllib.parse.urlsplit(self.path)
            if state.paginate and self.command == "GET" and url.path.endswith("/tags/list"):
                conn.request("GET", url.path, headers=headers)
                resp = conn.getresponse()
                if resp.status == 200:
                    self.tags_page(url, json.loads(resp.read()))
                    conn.close()
                    return
            else:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                if kind == "hold-response":
                    resp.read()
                    conn.close()
                    self.hold(kind)
                    return
            self.send_response(resp.status, resp.reason)
            clen = resp.getheader("Content-Length")
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    if kind == "baddigest" and k.lower() == "docker-content-digest":
                        v = "sha256:" + "0" * 64
                    self.send_header(k, v)
            if self.command == "HEAD":
                if clen is not None:
                    self.send_header("Content-Length", clen)
                self.end_headers()
                conn.close()
                return
            if chaos == "cut":
                data = resp.read()
                conn.close()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[:len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if clen is not None:
                self.send_header("Content-Length", clen)
                self.end_headers()
                first = True
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    if kind == "corrupt" and first:
                        chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
                    first = False
                    if state.slow_ms:
                        time.sleep(state.slow_ms / 1000.0)
                    self.wfile.write(chunk)
            else:
                data = resp.read()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            conn.close()

        def tags_page(self, url, listing):
            q = urllib.parse.parse_qs(url.query)
            n = int(q.get("n", ["100"])[0])
            last = q.get("last", [""])[0]
            tags = sorted(t for t in (listing.get("tags") or []) if t > last)
            page, more = tags[:n], len(tags) > n
            data = json.dumps({"name": listing.get("name"), "tags": page}).encode()
            log_line(f"PAGE {self.path}")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if more:
                nxt = urllib.parse.urlencode({"last": page[-1], "n": n})
                self.send_header("Link", f'<{url.path}?{nxt}>; rel="next"')
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--mode", choices=["503", "429", "drop", "mixed", "none", "baddigest", "corrupt",
                                      "hold", "hold-response", "gate"], required=True)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--match", default="")
    p.add_argument("--method", default="")
    p.add_argument("--slow-ms", type=int, default=0)
    p.add_argument("--paginate-tags", action="store_true")
    p.add_argument("--gate-file", default="")
    p.add_argument("--chaos-rate", type=float, default=0.0)
    p.add_argument("--chaos-file", default="")
    p.add_argument("--chaos-slow-ms", type=int, default=1500)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--stats", default="")
    a = p.parse_args()
    host, _, port = a.listen.rpartition(":")
    state = State(a.mode, a.count, a.match, a.slow_ms, a.paginate_tags, a.method, a.gate_file,
                  a.chaos_rate, a.chaos_file, a.chaos_slow_ms, a.seed, a.stats)
    server = ThreadingHTTPServer((host, int(port)), make_handler(state, a.upstream))
    server.daemon_threads = True

    def on_term(signum, frame):
        with state.lock:
            state.write_stats_locked()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    print(f"fault proxy on {a.listen} -> {a.upstream} ({a.mode} x{a.count})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
