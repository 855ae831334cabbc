"""CA and serving certificate for 127.0.0.1/localhost, made with the openssl CLI."""
import os
import subprocess


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_pki(directory):
    """Creates ca.crt/ca.key and server.crt/server.key in directory (reused if present).
    Returns (ca_pem, server_cert_path, server_key_path)."""
    os.makedirs(directory, exist_ok=True)
    ca_key = os.path.join(directory, "ca.key")
    ca_crt = os.path.join(directory, "ca.crt")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    crt = os.path.join(directory, "server.crt")
    ext = os.path.join(directory, "server.ext")
    if not (os.path.exists(ca_crt) and os.path.exists(crt) and os.path.exists(key)):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "3650",
                 "-subj", "/CN=kube-standin-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", "/CN=kube-apiserver")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
                    "DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
                    "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
        _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                 "-CAcreateserial", "-out", crt, "-days", "3650", "-extfile", ext)
    with open(ca_crt) as f:
        return f.read(), crt, key
