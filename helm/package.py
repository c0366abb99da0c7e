"""Package helm/autosre into DIR/autosre-X.Y.Z.tgz with Helm's own packager (``make chart``).

Helm's Go SDK (helm-python-sdk, in the test extra that ``make chart`` installs) writes the
archive, so it is exactly what ``helm package`` writes. The chart's version and appVersion
are autosred's own version: the tree's Chart.yaml must say the same (a test holds them
equal), and the packager is given the version too, so a chart and a daemon built from one
commit always carry one number.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from autosred import __version__

CHART = Path(__file__).resolve().parent / "autosre"


def chart_versions(chart: Path = CHART) -> tuple[str, str]:
    """(version, appVersion) as the tree's Chart.yaml says them."""
    meta = yaml.safe_load((chart / "Chart.yaml").read_text(encoding="utf-8"))
    return str(meta["version"]), str(meta["appVersion"])


def package(destination: Path, chart: Path = CHART) -> Path:
    """The archive's path; SystemExit naming the file to edit when the versions differ."""
    import helm_python

    versions = chart_versions(chart)
    if versions != (__version__, __version__):
        raise SystemExit(
            f"{chart / 'Chart.yaml'}: version {versions[0]} and appVersion {versions[1]} "
            f"must both be autosred's version {__version__} (autosred/__init__.py)"
        )
    report = helm_python.lint(str(chart), strict=True)
    problems = [m for m in report.get("messages") or [] if m.get("severity", 0) >= 2]
    if problems or report.get("errors"):
        raise SystemExit(f"helm lint {chart}: {problems or report['errors']}")
    destination.mkdir(parents=True, exist_ok=True)
    archive = helm_python.package(
        str(chart), destination=str(destination), version=__version__, app_version=__version__
    )
    return Path(archive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("destination", type=Path, nargs="?", default=Path("dist"))
    args = parser.parse_args(argv)
    print(package(args.destination))
    return 0


if __name__ == "__main__":
    sys.exit(main())
