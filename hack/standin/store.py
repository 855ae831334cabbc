"""Object storage: one global resourceVersion counter, a bounded event history and watchers.

Stored objects are never mutated in place: every write stores a new dict, so readers and the
event history can share them without copying.
"""
import collections
import json
import os
import sys
import threading

from . import selectors

HISTORY_MAX = 20000


def _compact(v):
    """Interns keys and short strings so 10,000 similar objects share them."""
    if isinstance(v, dict):
        return {sys.intern(k) if isinstance(k, str) else k: _compact(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_compact(x) for x in v]
    if isinstance(v, str) and len(v) <= 64:
        return sys.intern(v)
    return v


class Watcher:
    """One open watch: a queue of (type, object) events filled under the store lock."""

    def __init__(self, key, namespace, label_reqs, field_reqs):
        self.key = key
        self.namespace = namespace
        self.label_reqs = label_reqs
        self.field_reqs = field_reqs
        self.events = collections.deque()
        self.cond = threading.Condition()
        self.closed = False

    def matches(self, obj):
        if obj is None:
            return False
        md = obj.get("metadata") or {}
        if self.namespace is not None and md.get("namespace") != self.namespace:
            return False
        return (selectors.match_labels(self.label_reqs, md.get("labels")) and
                selectors.match_fields(self.field_reqs, obj))

    def offer(self, etype, obj, old):
        """Queues the event as this watcher sees it (objects entering or leaving its filter
        become ADDED or DELETED, like kube-apiserver's watch cache)."""
        now, before = self.matches(obj), (old is not None and self.matches(old))
        if etype == "MODIFIED":
            if now and not before:
                etype = "ADDED"
            elif before and not now:
                etype = "DELETED"
            elif not now:
                return
        elif not now:
            return
        self.push(etype, obj)

    def push(self, etype, obj):
        with self.cond:
            self.events.append((etype, obj))
            self.cond.notify()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify()

    def next(self, timeout):
        """Returns (type, obj), None on timeout, or "closed"."""
        with self.cond:
            if not self.events and not self.closed:
                self.cond.wait(timeout)
            if self.events:
                return self.events.popleft()
            if self.closed:
                return "closed"
            return None


class Store:
    def __init__(self):
        self.lock = threading.RLock()
        self.rv = 1
        self.objects = {}            # (group, plural) -> {(namespace, name): obj}
        self.history = collections.deque(maxlen=HISTORY_MAX)   # (rv, key, type, obj, old)
        self.compacted = 0           # watches/continues from an rv below this get 410
        self.watchers = set()

    # --- reads ------------------------------------------------------------------------------
    def get(self, key, ns, name):
        with self.lock:
            return self.objects.get(key, {}).get((ns or "", name))

    def items(self, key, ns=None):
        """Current objects of a type, sorted by (namespace, name)."""
        with self.lock:
            bucket = self.objects.get(key, {})
            if ns is None:
                keys = sorted(bucket)
            else:
                keys = sorted(k for k in bucket if k[0] == ns)
            return [(k, bucket[k]) for k in keys], self.rv

    def all_objects(self):
        with self.lock:
            out = []
            for key, bucket in self.objects.items():
                out.extend((key, o) for o in bucket.values())
            return out

    # --- writes (the caller sets everything but resourceVersion) ------------------------------
    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _emit(self, key, etype, obj, old):
        self.history.append((self.rv, key, etype, obj, old))
        for w in list(self.watchers):
            if w.key == key:
                w.offer(etype, obj, old)

    def put(self, key, obj, old=None):
        """Stores obj (created if old is None, else modified); returns it with its new rv."""
        with self.lock:
            obj.setdefault("metadata", {})
            obj.update(_compact(obj))
            md = obj["metadata"]
            md["resourceVersion"] = str(self._next_rv())
            self.objects.setdefault(key, {})[(md.get("namespace") or "", md["name"])] = obj
            self._emit(key, "ADDED" if old is None else "MODIFIED", obj, old)
            return obj

    def remove(self, key, obj):
        with self.lock:
            md = obj["metadata"]
            bucket = self.objects.get(key, {})
            k = (md.get("namespace") or "", md["name"])
            if k not in bucket:
                return None
            del bucket[k]
            gone = dict(obj)
            gone["metadata"] = dict(md)
            gone["metadata"]["resourceVersion"] = str(self._next_rv())
            self._emit(key, "DELETED", gone, None)
            return gone

    def drop_type(self, key):
        with self.lock:
            self.objects.pop(key, None)
            for w in list(self.watchers):
                if w.key == key:
                    w.close()

    # --- watch -------------------------------------------------------------------------------
    def too_old(self, rv):
        """True if events after rv are no longer all in the history."""
        with self.lock:
            if rv < self.compacted:
                return True
            if len(self.history) == self.history.maxlen and rv < self.history[0][0] - 1:
                return True
            return False

    def watch(self, key, ns, label_reqs, field_reqs, rv):
        """Registers a watcher. rv None means start with ADDED events for current objects.
        Returns the watcher, or None if rv is too old (410)."""
        w = Watcher(key, ns, label_reqs, field_reqs)
        with self.lock:
            if rv is None:
                for (ons, _), obj in sorted(self.objects.get(key, {}).items()):
                    if w.matches(obj):
                        w.events.append(("ADDED", obj))
            else:
                if self.too_old(rv):
                    return None
                for erv, ekey, etype, obj, old in self.history:
                    if erv > rv and ekey == key:
                        w.offer(etype, obj, old)
            self.watchers.add(w)
        return w

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)

    def drop_watches(self):
        with self.lock:
            ws = list(self.watchers)
            self.watchers.clear()
        for w in ws:
            w.close()
        return len(ws)

    def compact(self):
        with self.lock:
            self.history.clear()
            self.compacted = self.rv
            return self.rv

    # --- snapshot ----------------------------------------------------------------------------
    def save(self, path):
        with self.lock:
            data = {"resourceVersion": self.rv,
                    "objects": [{"group": k[0], "plural": k[1], "object": o}
                                for k, o in self.all_objects()]}
            text = json.dumps(data)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)

    def load(self, path):
        with open(path) as f:
            data = json.load(f)
        with self.lock:
            self.rv = int(data.get("resourceVersion", 1))
            self.objects = {}
            for e in data.get("objects", []):
                o = _compact(e["object"])
                md = o["metadata"]
                self.objects.setdefault((e["group"], e["plural"]), {})[
                    (md.get("namespace") or "", md["name"])] = o
            self.history.clear()
            self.compacted = self.rv
