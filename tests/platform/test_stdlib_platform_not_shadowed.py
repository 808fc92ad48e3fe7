"""The repository's ``platform/`` folder must never shadow the standard library's module."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_repo_root_first_on_sys_path_still_imports_stdlib_platform() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import platform; "
        "print(platform.__file__); print(platform.python_version())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, version = result.stdout.split()
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    assert Path(module_file).resolve().parent == stdlib
    assert version == ".".join(map(str, sys.version_info[:3]))
    assert not (ROOT / "platform" / "__init__.py").exists()
