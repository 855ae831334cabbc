"""Test certificates made with the openssl CLI: a CA and a serving certificate, client
certificates."""
import os
import shutil

import procs


def make_serving_cert(directory, dns_names=(), ips=("127.0.0.1",), ca_dir=None):
    """Writes ca.crt, ca.key, tls.crt, tls.key into directory; returns the directory. With
    ca_dir (a directory this function wrote before) the certificate is issued by that CA, whose
    ca.crt and ca.key are copied, instead of a new one."""
    os.makedirs(directory, exist_ok=True)
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    if ca_dir:
        for name in ("ca.crt", "ca.key"):
            shutil.copyfile(os.path.join(ca_dir, name), p(name))
    else:
        procs.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                   "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("ca.key"), "-out",
                   p("ca.crt"), "-days", "2", "-subj", "/CN=sealift-e2e-ca"])
    san = ",".join([f"DNS:{d}" for d in dns_names] + [f"IP:{i}" for i in ips])
    with open(p("ext.cnf"), "w") as f:
        f.write(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
                "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    procs.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", p("tls.key"), "-out", p("tls.csr"),
               "-subj", f"/CN={(list(dns_names) or list(ips))[0]}"])
    procs.run(["openssl", "x509", "-req", "-in", p("tls.csr"), "-CA", p("ca.crt"),
               "-CAkey", p("ca.key"), "-CAcreateserial", "-out", p("tls.crt"), "-days", "2",
               "-extfile", p("ext.cnf")])
    return directory


def make_client_cert(directory, ca_dir, cn):
    """A client certificate issued by the CA of ca_dir (ca.crt, ca.key), written as
    directory/client.cert + client.key (skopeo's cert-dir names) and returned as their paths."""
    os.makedirs(directory, exist_ok=True)
    crt, key = os.path.join(directory, "client.cert"), os.path.join(directory, "client.key")
    csr, ext = os.path.join(directory, "client.csr"), os.path.join(directory, "ext.cnf")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
                "extendedKeyUsage=clientAuth\n")
    procs.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"])
    procs.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.crt"),
               "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-out", crt,
               "-days", "2", "-extfile", ext])
    return crt, key
