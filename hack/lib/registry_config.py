"""The one docker-registry configuration of sealift's scripts and tests: hack/lib/registry.sh
(demo, benches) and e2e/lib/registry.py write a registry's config.yml (and htpasswd) through
write_config, so every local registry runs with the same storage and HTTP settings.

    python3 hack/lib/registry_config.py DIR NAME PORT [--user USER:PASS]... [--access-log]
                                         [--log-level LEVEL]

writes DIR/config.yml (storage under DIR/data, listening on 127.0.0.1:PORT; with --user an
htpasswd account in DIR/htpasswd, else anonymous access) and prints its path.
"""
import argparse
import os
import subprocess
import sys


def write_config(dir, name, port, users=None, token=None, tls=None, access_log=False,
                 log_level="warn"):
    """Writes dir/config.yml for a docker-registry named name on 127.0.0.1:port and returns its
    path. users maps user -> password (htpasswd, bcrypt); token=(realm, service, issuer,
    rootcertbundle) selects Bearer-token auth instead; neither means anonymous access. tls is a
    (certificate, key) pair of PEM paths to serve https, or (certificate, key, client CA): then
    every connection must present a client certificate that CA issued (mTLS). access_log writes one line per request
    to the registry's log (what request counts read)."""
    os.makedirs(os.path.join(dir, "data"), exist_ok=True)
    auth = ""
    if token:
        realm, service, issuer, cert = token
        auth = (f"auth:\n  token:\n    realm: {realm}\n    service: {service}\n"
                f"    issuer: {issuer}\n    rootcertbundle: {cert}\n")
    elif users:
        lines = []
        for user, password in users.items():
            cp = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                                capture_output=True, text=True)
            lines.append(cp.stdout.strip())
        htpasswd = os.path.join(dir, "htpasswd")
        with open(htpasswd, "w") as f:
            f.write("\n".join(lines) + "\n")
        auth = f"auth:\n  htpasswd:\n    realm: {name}\n    path: {htpasswd}\n"
    cfg = (
        "version: 0.1\n"
        f"log:\n  level: {log_level}\n"
        f"  accesslog:\n    disabled: {'false' if access_log else 'true'}\n"
        "storage:\n  filesystem:\n"
        f"    rootdirectory: {os.path.join(dir, 'data')}\n"
        "  delete:\n    enabled: true\n  redirect:\n    disable: true\n"
        "  maintenance:\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: sealift-{name}\n"
        + (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "")
        + (f"    clientcas:\n      - {tls[2]}\n" if tls and len(tls) > 2 else "")
        + auth)
    path = os.path.join(dir, "config.yml")
    with open(path, "w") as f:
        f.write(cfg)
    return path


def main(argv):
    p = argparse.ArgumentParser(prog="registry_config.py",
                                description="writes a docker-registry config.yml")
    p.add_argument("dir")
    p.add_argument("name")
    p.add_argument("port", type=int)
    p.add_argument("--user", action="append", default=[], metavar="USER:PASS")
    p.add_argument("--access-log", action="store_true")
    p.add_argument("--log-level", default="warn")
    a = p.parse_args(argv)
    users = {}
    for up in a.user:
        user, sep, password = up.partition(":")
        if not sep or not user:
            p.error(f"--user must be USER:PASS, not {up!r}")
        users[user] = password
    print(write_config(a.dir, a.name, a.port, users=users, access_log=a.access_log,
                       log_level=a.log_level))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
