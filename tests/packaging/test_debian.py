"""debian/, packaging/ and tests/setup/: checks that need no package build (the built package
is checked in test_deb.py)."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from .support import (
    DEBIAN,
    INSTALL_TEST_DEPS,
    MAN,
    REPO,
    SYSUSERS,
    TMPFILES,
    UNIT,
    Relation,
    package_version,
    parse_deb822,
    parse_relations,
    require_tool,
    run,
)

# What debian/rules runs: dh, the system python3's venv module and pip (installing the
# wheelhouse into the package's venv).
REQUIRED_BUILD_DEPENDS = {"debhelper-compat", "python3", "python3-pip", "python3-venv"}

SHELL_SCRIPTS = [
    REPO / "packaging" / "build-deb.sh",
    REPO / "packaging" / "build-package.sh",
    REPO / "packaging" / "build-wheel.sh",
    INSTALL_TEST_DEPS,
]
MAINTAINER_SCRIPTS = [DEBIAN / "postinst", DEBIAN / "prerm", DEBIAN / "postrm"]


def control() -> list[dict[str, str]]:
    return parse_deb822((DEBIAN / "control").read_text())


def relations(field_value: str) -> dict[str, Relation]:
    """Single-alternative relations by package name."""
    found = {}
    for group in parse_relations(field_value):
        assert len(group) == 1, f"unexpected alternatives: {group}"
        found[group[0].name] = group[0]
    return found


def changelog_head() -> re.Match[str]:
    text = (DEBIAN / "changelog").read_text()
    match = re.match(
        r"(?P<source>[a-z0-9][a-z0-9+.\-]+) \((?P<version>[^)]+)\) (?P<dist>[a-z\-]+);"
        r" urgency=(?P<urgency>low|medium|high|emergency|critical)\n\n"
        r"(?P<entries>(?:  .*\n|\n)+?)"
        r" -- (?P<maintainer>[^<]+<[^>]+>)  (?P<date>.+)\n",
        text,
    )
    assert match, "debian/changelog: the first entry is not in dpkg's format"
    return match


def executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


# ---- debian/control ---------------------------------------------------------------------


def test_control_paragraphs() -> None:
    source, *binaries = control()
    assert source["Source"] == "autosred"
    assert [binary["Package"] for binary in binaries] == ["autosred"]
    # Native wheels in the venv: one build per architecture.
    assert binaries[0]["Architecture"] == "any"
    assert source["Rules-Requires-Root"] == "no"
    assert binaries[0]["Description"].splitlines()[0], "a one-line synopsis first"


def test_build_depends() -> None:
    build_depends = relations(control()[0]["Build-Depends"])
    assert build_depends.keys() >= REQUIRED_BUILD_DEPENDS
    assert build_depends["debhelper-compat"] == Relation("debhelper-compat", "=", "13")


def test_a_release_build_root_has_every_build_dependency() -> None:
    """build-deb.sh --suite debootstraps its build root with BUILD_ROOT_PACKAGES: debootstrap
    resolves no virtual package, so debhelper-compat is asked for as debhelper."""
    script = (REPO / "packaging" / "build-deb.sh").read_text()
    found = re.search(r"^BUILD_ROOT_PACKAGES=\(([^)]*)\)", script, re.MULTILINE)
    assert found, "BUILD_ROOT_PACKAGES=(...) not in build-deb.sh"
    packages = set(found.group(1).split())
    wanted = {
        "debhelper" if name == "debhelper-compat" else name
        for name in relations(control()[0]["Build-Depends"])
    }
    assert packages >= wanted | {"lintian", "dpkg-dev", "build-essential"}, wanted - packages


def test_depends_name_the_interpreter_not_python_libraries() -> None:
    """The Python dependencies ship in the package's venv: Depends names the interpreter
    (filled in by debian/rules), the shared libraries, adduser and procps (/bin/kill for the
    unit's ExecReload), no python3-* library."""
    depends = relations(control()[1]["Depends"])
    assert depends.keys() == {
        "${autosred:Python}",
        "${misc:Depends}",
        "${shlibs:Depends}",
        "adduser",
        "procps",
    }
    assert "autosred:Python" in (DEBIAN / "rules").read_text()


def test_every_runtime_dependency_is_pinned() -> None:
    """The venv is installed from constraints.txt's pins: every runtime dependency of
    pyproject.toml has one, so two builds of one source hold the same versions."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip())
        assert match, f"constraints.txt: {line!r}: expected 'name==version'"
        pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    for requirement in pyproject["project"]["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*>=\s*([0-9.]+)", requirement)
        assert match, f"pyproject.toml: {requirement!r}: expected 'name>=version'"
        assert re.sub(r"[-_.]+", "-", match[1]).lower() in pins, requirement


# ---- debian/changelog, source/format, rules ---------------------------------------------


def test_changelog_version_matches_the_package() -> None:
    head = changelog_head()
    assert head["source"] == control()[0]["Source"]
    upstream, _, revision = head["version"].rpartition("-")
    assert upstream == package_version(), "bump debian/changelog with autosred.__version__"
    assert revision.isdigit()
    parsedate_to_datetime(head["date"])  # RFC 2822, as dpkg requires


def test_changelog_parses_with_dpkg() -> None:
    tool = require_tool("dpkg-parsechangelog")
    result = run([tool, "-l", str(DEBIAN / "changelog"), "-S", "Version"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == changelog_head()["version"]


def test_source_format_fits_the_version() -> None:
    source_format = (DEBIAN / "source" / "format").read_text().strip()
    assert source_format in {"3.0 (quilt)", "3.0 (native)"}
    has_revision = "-" in changelog_head()["version"]
    # dpkg-source refuses a native package with a Debian revision, and a quilt one without.
    assert has_revision == (source_format == "3.0 (quilt)")


def test_rules_is_an_executable_makefile() -> None:
    rules = DEBIAN / "rules"
    assert executable(rules)
    assert rules.read_text().startswith("#!/usr/bin/make -f\n")
    make = require_tool("make")
    # -n: print, do not run. Fails on makefile syntax errors (a recipe indented with spaces).
    result = run([make, "-n", "-f", str(rules), "binary"])
    assert result.returncode == 0, result.stderr
    assert "dh binary" in result.stdout


def test_rules_installs_the_sysusers_file_postinst_uses() -> None:
    rules = (DEBIAN / "rules").read_text()
    postinst = (DEBIAN / "postinst").read_text()
    install = "install -D -m 0644 systemd/autosred.sysusers $(DEST)/usr/lib/sysusers.d/"
    assert f"{install}autosred.conf" in rules
    assert "SYSUSERS_CONF=/usr/lib/sysusers.d/autosred.conf" in postinst


# ---- what dh installs -------------------------------------------------------------------


def test_dh_files_link_to_the_maintained_copies() -> None:
    """dh_installsystemd / dh_installtmpfiles read debian/autosred.{service,tmpfiles}: they
    are symlinks to the files in systemd/, so there is one copy of each."""
    assert (DEBIAN / "autosred.service").resolve() == UNIT.resolve()
    assert (DEBIAN / "autosred.tmpfiles").resolve() == TMPFILES.resolve()
    assert not (DEBIAN / "autosred.sysusers").exists(), "postinst creates the user"
    assert SYSUSERS.is_file()


def test_manpages_listed_exist() -> None:
    listed = (DEBIAN / "autosred.manpages").read_text().split()
    assert listed == [
        "packaging/man/autosred.8",
        "packaging/man/autosrectl.1",
        "packaging/man/autosred-sim.1",
    ]
    for path in listed:
        assert (REPO / path).is_file(), path


def test_install_sources_exist() -> None:
    lines = (DEBIAN / "autosred.install").read_text().splitlines()
    sources = [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]
    assert sources == ["etc/autosred/autosred.yaml", "etc/autosred/recipes.d/demo.yaml"]
    for source in sources:
        assert (REPO / source).is_file(), source
    assert not (DEBIAN / "conffiles").exists(), "debhelper marks /etc files as conffiles"


# ---- maintainer scripts, shell scripts --------------------------------------------------


@pytest.mark.parametrize("script", MAINTAINER_SCRIPTS, ids=lambda path: path.name)
def test_maintainer_script(script: Path) -> None:
    text = script.read_text()
    assert executable(script)
    assert text.startswith("#!/bin/sh\n")
    assert "\nset -e\n" in text
    # dh_installdeb replaces the token wherever it is, even inside a comment, which splices
    # shell code into that comment; it must stand alone on its line, once.
    assert [line for line in text.splitlines() if "#DEBHELPER#" in line] == ["#DEBHELPER#"]
    result = run(["/bin/sh", "-n", str(script)])
    assert result.returncode == 0, result.stderr


def test_postinst_creates_the_user_before_debhelper_snippets() -> None:
    text = (DEBIAN / "postinst").read_text()
    assert text.index("create_user\n") < text.index("#DEBHELPER#")
    assert "systemd-sysusers" in text
    assert "adduser --system" in text


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda path: path.name)
def test_shell_script_syntax(script: Path) -> None:
    assert executable(script)
    assert script.read_text().startswith("#!/usr/bin/env bash\n")
    result = run(["/bin/bash", "-n", str(script)])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("suite", ["Trixie", "../trixie", "trixie;id", ""])
def test_build_deb_refuses_a_suite_that_is_not_a_release_name(suite: str) -> None:
    """--suite names a directory (dist/NAME/, the cache's NAME/): nothing else gets through,
    before anything is built or installed."""
    for argv in ([f"--suite={suite}"], ["--suite", suite]):
        result = run(["/bin/bash", str(REPO / "packaging" / "build-deb.sh"), *argv])
        # An empty one too: not taken for this host's own build.
        assert result.returncode == 2, result.stderr
        assert f"--suite {suite}: not a release name" in result.stderr


def test_install_test_deps_is_a_no_op_when_all_is_there() -> None:
    for tool in ("systemd-analyze", "systemd-sysusers", "systemd-tmpfiles"):
        require_tool(tool)
    result = run(["/bin/bash", str(INSTALL_TEST_DEPS)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == result.stderr == ""


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to nobody with setpriv: needs root")
def test_install_test_deps_as_non_root_says_what_to_install(tmp_path: Path) -> None:
    """As user nobody, with a PATH that has no systemd tools: no apt, a hint, exit 1."""
    setpriv = require_tool("setpriv")
    nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    result = run([*nobody, "/bin/bash", str(INSTALL_TEST_DEPS)], env={"PATH": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    assert "missing Debian packages: systemd" in result.stderr
    assert "apt-get install -y --no-install-recommends systemd" in result.stderr


# ---- man pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "title", "section"),
    [
        ("autosred.8", "AUTOSRED", "8"),
        ("autosrectl.1", "AUTOSRECTL", "1"),
        ("autosred-sim.1", "AUTOSRED-SIM", "1"),
    ],
)
def test_man_page(page: str, title: str, section: str) -> None:
    path = MAN / page
    th = re.search(r'^\.TH (\S+) (\d) "[^"]*" "autosred ([^"]+)"', path.read_text(), re.MULTILINE)
    assert th, f"{page}: no .TH line"
    assert (th[1], th[2]) == (title, section)
    assert th[3] == package_version(), f"{page}: .TH names another version"
    groff = require_tool("groff")
    # -z: no output, -ww: all warnings, -t: tables. Any warning is a formatting mistake.
    result = run([groff, "-man", "-t", "-ww", "-z", str(path)])
    assert result.returncode == 0
    assert result.stderr == ""
