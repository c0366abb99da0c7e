"""The fake k3s lives beside autosred, not inside it: the wheel carries autosred alone."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_packages_autosred_and_not_the_fake() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]

    def packaged(name: str) -> bool:  # setuptools matches each dotted name the same way
        return any(fnmatchcase(name, pattern) for pattern in include)

    assert packaged("autosred") and packaged("autosred.kube")
    assert (ROOT / "fake_k3s" / "__init__.py").is_file()
    assert not packaged("fake_k3s") and not packaged("fake_k3s.api")
    assert not packaged("tests") and not packaged("tests.fakes.cluster")
