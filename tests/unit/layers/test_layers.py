#!/usr/bin/python3
"""The folder layers hold (hack/layers.py, the table in the top-level meson.build).

argv: SRCDIR BUILDDIR CC LAYER... (the LAYER arguments as meson passes them to hack/layers.py).

1. Every #include of controller/ and reconcilers/ stays in its layer's declared folders, libcurl
   and libgit2 stay in their folders, there is no weak symbol and the graph has no cycle.
2. The check finds what it is there for: in a scratch copy of a few folders, an include that goes
   up a layer, libcurl outside the transport, a weak symbol and a folder no layer declares are
   each reported, naming the file and line.
3. The build itself refuses an upward include: with the include path the build gives the http
   layer, "runtime/manager.h" does not compile while "util/err.h" does.
"""
import os
import subprocess
import sys
import tempfile

src, build, cc = sys.argv[1], sys.argv[2], sys.argv[3]
layer_args = sys.argv[4:]
script = os.path.join(src, "hack", "layers.py")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run_check(root):
    p = subprocess.run([sys.executable, script, "check", root] + layer_args,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


# 1. the tree as it is
rc, out = run_check(src)
check(rc == 0, "the tree keeps its layers:\n" + out)

# 2. planted violations in a scratch tree
with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
    def write(rel, text):
        path = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    write("controller/util/err.h", "#pragma once\n")
    write("controller/http/server.c", '#include "util/err.h"\n#include "runtime/manager.h"\n')
    write("controller/http/transport.c", "#include <curl/curl.h>\n")
    write("controller/kube/client.c", '#include "util/err.h"\n#include <curl/curl.h>\n')
    write("controller/runtime/manager.c",
          '#include "http/server.h"\n__attribute__((weak)) int f(void) { return 0; }\n')
    write("controller/newfolder/x.c", '#include "util/err.h"\n')
    rc, out = run_check(tmp)
    check(rc == 1, "planted violations fail the check (exit %d)" % rc)
    check('controller/http/server.c:2: "runtime/manager.h" goes from layer http to runtime' in out,
          "an upward include is named with its file and line:\n" + out)
    check("controller/kube/client.c:2: <curl/curl.h> in layer kube" in out,
          "libcurl outside the HTTP transport is named:\n" + out)
    check("controller/http/transport.c" not in out, "libcurl in the transport is allowed:\n" + out)
    check("controller/runtime/manager.c:2: a weak symbol" in out, "a weak symbol is named:\n" + out)
    check("controller/newfolder/: a folder of C code that no layer declares" in out,
          "an undeclared folder is named:\n" + out)
    check("controller/runtime/manager.c:1" not in out,
          "an include of a lower layer is allowed:\n" + out)

    # 3. the compiler, with the http layer's include path from the build
    http_inc = os.path.join(build, "layers", "http")
    check(os.path.isdir(os.path.join(http_inc, "util")), "the build made the http layer's folder")

    def compiles(include):
        f = os.path.join(tmp, "probe.c")
        with open(f, "w") as fh:
            fh.write('#include "%s"\n' % include)
        p = subprocess.run([cc, "-fsyntax-only", "-D_GNU_SOURCE", "-I", http_inc, f],
                           capture_output=True, text=True, timeout=120)
        return p.returncode == 0, p.stderr

    ok, err = compiles("util/err.h")
    check(ok, "the http layer compiles with util/err.h:\n" + err)
    ok, err = compiles("runtime/manager.h")
    check(not ok and "runtime/manager.h" in err,
          "the http layer does not compile with runtime/manager.h:\n" + err)

if failures:
    sys.exit(1)
print("ok: layers hold, and the check and the build refuse an upward include")
