#!/usr/bin/python3
"""Anonymous memory of a process (RssAnon: heap, stacks, private data; code and other file-backed
pages left out), for hack/bench/sync.sh.

  anonmem.py peak CMD...   run CMD to its end, sampling /proc/PID/status every 2 ms; print
                           "SECONDS,PEAK_KIB" and exit with CMD's status
  anonmem.py idle CMD...   start a TCP listener that accepts connections and never answers,
                           replace "{STALL}" in CMD's arguments with its 127.0.0.1:PORT, run CMD
                           until it has waited 1.5 s on that first request, print the
                           RssAnon it holds then (in KiB) and kill it: the process has set up
                           everything it needs for a copy (libraries, TLS and HTTP stack,
                           credentials) and done no copy work

Peak RSS (/usr/bin/time) counts the code pages a process touched; RssAnon counts what grows with
the work and what concurrent copies in one process would each hold.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time


def rss_anon(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak(cmd):
    start = time.monotonic()
    p = subprocess.Popen(cmd)
    top = 0
    while p.poll() is None:
        v = rss_anon(p.pid)
        if v is not None and v > top:
            top = v
        time.sleep(0.002)
    print(f"{time.monotonic() - start:.2f},{top}")
    return p.returncode


def idle(cmd):
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    held = []

    def accept():
        while True:
            try:
                c, _ = lst.accept()
            except OSError:
                return
            held.append(c)

    threading.Thread(target=accept, daemon=True).start()
    addr = "127.0.0.1:%d" % lst.getsockname()[1]
    p = subprocess.Popen([a.replace("{STALL}", addr) for a in cmd],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not held and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(1.5)
    v = rss_anon(p.pid) if p.poll() is None else None
    p.send_signal(signal.SIGKILL)
    p.wait()
    lst.close()
    if v is None or not held:
        print("anonmem.py: the command did not wait on the stalled registry", file=sys.stderr)
        return 1
    print(v)
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("peak", "idle"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit((peak if sys.argv[1] == "peak" else idle)(sys.argv[2:]))
