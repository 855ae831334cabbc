#!/usr/bin/python3
"""Builds an OCI image layout of random, incompressible layers for the sync bench.

usage: make_image.py DIR TAG LAYERS LAYER_MIB
Writes DIR (an OCI layout) with one image tagged TAG: LAYERS gzip-tar layers of LAYER_MIB MiB of
random data each. Prints the manifest digest.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "e2e", "lib"))
import registry  # noqa: E402


def main():
    path, tag, layers, mib = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    layout = registry.Layout(path)
    desc = layout.image([mib << 20] * layers, seed=20261129)
    layout.tag(desc, tag)
    print(desc["digest"])


if __name__ == "__main__":
    main()
