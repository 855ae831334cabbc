#!/usr/bin/python3
"""The folder layers of sealift's C code (the graph is declared once, in the top-level
meson.build, and passed here as arguments).

  layers.py farm BUILDDIR SRCDIR LAYER...
      makes BUILDDIR/layers/NAME/ for every layer, holding a symlink per folder that layer may
      include (itself and its declared dependencies), so the build gives each folder's library
      exactly those include paths: an include of any other folder does not compile.
  layers.py check SRCDIR LAYER...
      reads every .c/.h of controller/ and reconcilers/ and fails (exit 1, one line per finding)
      on an include of a folder the file's layer does not declare, a relative include that
      leaves its folder, libcurl or libgit2 headers outside the folders allowed to use them, a
      weak symbol, a folder no layer declares, or a cycle in the graph.

A LAYER argument is NAME=PATH:DEP,DEP,...:LIB,LIB,... where PATH is the folder (relative to
SRCDIR), the DEPs are the layer names it may include and the LIBs the outside libraries it may
include headers of ("curl", "git2", "sodium"; the others are not restricted).
"""
import os
import re
import sys

RESTRICTED_LIBS = {
    "curl": re.compile(r"^curl/"),
    "git2": re.compile(r"^git2(\.h|/)"),
    "sodium": re.compile(r"^sodium(\.h|/)"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^">]+)[">]')
WEAK = re.compile(r"__attribute__\s*\(\(\s*weak|#\s*pragma\s+weak")
ROOTS = ("controller", "reconcilers")


def parse(args):
    layers = {}
    for a in args:
        name, _, rest = a.partition("=")
        path, deps, libs = (rest.split(":") + ["", ""])[:3]
        layers[name] = {
            "path": path.strip("/"),
            "deps": [d for d in deps.split(",") if d],
            "libs": [x for x in libs.split(",") if x],
        }
    return layers


def graph_problems(layers):
    out = []
    for name, l in layers.items():
        for d in l["deps"]:
            if d not in layers:
                out.append(f"layer {name} depends on {d}, which is not a layer")
    state = {}

    def visit(n, stack):
        if state.get(n) == "done":
            return
        if state.get(n) == "open":
            out.append("cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            return
        state[n] = "open"
        for d in layers[n]["deps"]:
            if d in layers:
                visit(d, stack + [n])
        state[n] = "done"

    for n in sorted(layers):
        visit(n, [])
    return out


def farm(build, src, layers):
    base = os.path.join(build, "layers")
    for name, l in layers.items():
        d = os.path.join(base, name)
        os.makedirs(d, exist_ok=True)
        want = {}
        for dep in [name] + l["deps"]:
            p = layers[dep]["path"]
            if p in ROOTS:  # the headers of a root folder are included as "file.h"
                for f in os.listdir(os.path.join(src, p)):
                    if f.endswith(".h"):
                        want[f] = os.path.join(src, p, f)
                continue
            want[os.path.basename(p)] = os.path.join(src, p)
        for entry in os.listdir(d):
            if entry not in want or os.readlink(os.path.join(d, entry)) != want[entry]:
                os.unlink(os.path.join(d, entry))
        for entry, target in want.items():
            link = os.path.join(d, entry)
            if not os.path.islink(link):
                os.symlink(target, link)


def check(src, layers):
    problems = graph_problems(layers)
    by_path = {l["path"]: n for n, l in layers.items()}
    by_folder = {}
    for n, l in layers.items():
        if l["path"] not in ROOTS:
            by_folder[os.path.basename(l["path"])] = n
    for root in ROOTS:
        for dirpath, _, files in os.walk(os.path.join(src, root)):
            rel = os.path.relpath(dirpath, src)
            sources = sorted(f for f in files if f.endswith((".c", ".h")))
            if not sources:
                continue
            layer = by_path.get(rel)
            if layer is None:
                problems.append(f"{rel}/: a folder of C code that no layer declares")
                continue
            allowed = {layer} | set(layers[layer]["deps"])
            for f in sources:
                path = os.path.join(rel, f)
                with open(os.path.join(src, path), encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                for lineno, line in enumerate(text.splitlines(), 1):
                    where = f"{path}:{lineno}"
                    if WEAK.search(line):
                        problems.append(f"{where}: a weak symbol (wire the implementation instead)")
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, inc = m.groups()
                    if kind == "<":
                        for lib, pat in RESTRICTED_LIBS.items():
                            if pat.search(inc) and lib not in layers[layer]["libs"]:
                                problems.append(
                                    f"{where}: <{inc}> in layer {layer}, which may not use {lib}")
                        continue
                    if ".." in inc.split("/"):
                        problems.append(f'{where}: "{inc}" leaves its folder')
                        continue
                    if "/" not in inc:
                        # a file of this folder, a header of a root folder (reconcilers/wiring.h)
                        # this layer declares, or the build's generated build_info.h
                        homes = [rel] + [layers[d]["path"] for d in allowed
                                         if layers[d]["path"] in ROOTS]
                        if inc != "build_info.h" and not any(
                                os.path.exists(os.path.join(src, h, inc)) for h in homes):
                            problems.append(f'{where}: "{inc}" is not a file of this folder '
                                            "or of a root folder it declares")
                        continue
                    target = by_folder.get(inc.split("/")[0])
                    if target is None:
                        problems.append(f'{where}: "{inc}" names no layer')
                    elif target not in allowed:
                        problems.append(
                            f'{where}: "{inc}" goes from layer {layer} to {target}, '
                            f"which {layer} does not declare")
    for p in problems:
        print(p)
    return 1 if problems else 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "farm":
        farm(argv[2], argv[3], parse(argv[4:]))
        return 0
    if len(argv) >= 2 and argv[1] == "check":
        return check(argv[2], parse(argv[3:]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
