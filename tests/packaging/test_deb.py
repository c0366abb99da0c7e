"""The built Debian package: `make deb` (reused from its content-hash cache when the inputs did
not change, see packaging/README.md), then what dpkg-deb says it holds, the private venv run
from the unpacked tree, and lintian's verdict.

Measured on a two-core Debian 12 host shared with other builds (load ~10): a cold `make deb`
6 to 10.5 minutes wall, about 2.5 minutes of CPU (pip wheel and install, dpkg-deb's xz over
~320 MB, lintian over ~10k files); a warm one (inputs unchanged, cache hit) 2.6 s."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from .support import DEBIAN, REPO, UNIT, package_version, parse_relations, require_tool

VENV = "/usr/lib/autosred/venv"
COMMANDS = ("autosred", "autosrectl", "autosred-sim")
CONFFILES = {"/etc/autosred/autosred.yaml", "/etc/autosred/recipes.d/demo.yaml"}
# Installed as shipped by the repository (path in the package -> source).
SHIPPED_AS_IS = {
    "lib/systemd/system/autosred.service": UNIT,
    "usr/lib/sysusers.d/autosred.conf": REPO / "systemd" / "autosred.sysusers",
    "usr/lib/tmpfiles.d/autosred.conf": REPO / "systemd" / "autosred.tmpfiles",
    "etc/autosred/autosred.yaml": REPO / "etc" / "autosred" / "autosred.yaml",
    "etc/autosred/recipes.d/demo.yaml": REPO / "etc" / "autosred" / "recipes.d" / "demo.yaml",
    "usr/share/doc/autosred/examples/example.yaml": (
        REPO / "etc" / "autosred" / "recipes.d" / "example.yaml"
    ),
}
MAN_PAGES = (
    "usr/share/man/man8/autosred.8.gz",
    "usr/share/man/man1/autosrectl.1.gz",
    "usr/share/man/man1/autosred-sim.1.gz",
)
COMPLETION = "usr/share/bash-completion/completions/autosrectl"


@dataclass(frozen=True)
class Built:
    deb: Path
    lintian: str
    fields: dict[str, str]
    root: Path
    """The package unpacked with dpkg-deb -x."""
    listing: dict[str, str]
    """Path in the package (no leading ./ or /) -> dpkg-deb -c's mode string (and, for a
    link, "-> target" appended)."""


def _run(
    argv: list[str],
    *,
    timeout: float = 120,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
) -> str:
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env
    )
    assert result.returncode == 0, f"{argv}: {result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The package, built or reused, and unpacked. The unpacked tree gets the one file of
    its Depends the venv reaches by path: usr/bin/python3.X, a link to this host's (the venv
    links bin/python3.X to ../../../../bin/python3.X)."""
    require_tool("dpkg-deb")
    require_tool("make")
    arch = _run(["dpkg", "--print-architecture"]).strip()
    for old in (REPO / "dist").glob("autosred_*.deb"):
        old.unlink()
    result = subprocess.run(
        ["make", "--no-print-directory", "deb"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert result.returncode == 0, (
        f"make deb failed:\n{result.stdout[-3000:]}{result.stderr[-5000:]}"
    )
    debs = sorted((REPO / "dist").glob("autosred_*.deb"))
    assert [deb.name for deb in debs] == [
        deb.name for deb in (REPO / "dist").glob(f"autosred_*_{arch}.deb")
    ]
    assert len(debs) == 1, f"make deb must write exactly one package: {debs}"
    deb = debs[0]
    fields = {}
    for name in ("Package", "Version", "Architecture", "Depends", "Installed-Size"):
        fields[name] = _run(["dpkg-deb", "--field", str(deb), name]).strip()
    root = tmp_path_factory.mktemp("unpacked")
    _run(["dpkg-deb", "-x", str(deb), str(root)], timeout=600)
    for link in (root / VENV.lstrip("/") / "bin").glob("python3.*"):
        interpreter = Path(os.readlink(link))
        assert interpreter.parts[:5] == ("..", "..", "..", "..", "bin"), interpreter
        (root / "usr" / "bin" / interpreter.name).symlink_to(Path("/usr/bin") / interpreter.name)
    listing = {}
    for line in _run(["dpkg-deb", "-c", str(deb)]).splitlines():
        # drwxr-xr-x root/root 0 2026-12-02 02:57 ./usr/bin/autosred -> ../lib/...
        parts = line.split(None, 5)
        path, _, target = parts[5].partition(" -> ")
        listing[path.removeprefix("./").rstrip("/")] = parts[0] + (
            f" -> {target}" if target else ""
        )
    return Built(deb, (REPO / "dist" / "autosred.lintian").read_text(), fields, root, listing)


@pytest.mark.timeout(1600)
def test_make_deb_writes_one_package_for_this_architecture(built: Built) -> None:
    arch = _run(["dpkg", "--print-architecture"]).strip()
    assert built.fields["Package"] == "autosred"
    assert built.fields["Architecture"] == arch
    assert re.fullmatch(
        rf"autosred_{re.escape(built.fields['Version'])}_{arch}\.deb", built.deb.name
    )


@pytest.mark.timeout(1600)
def test_version_names_upstream_and_the_distribution_release(built: Built) -> None:
    version = built.fields["Version"]
    changelog = _run(["dpkg-parsechangelog", "-l", str(DEBIAN / "changelog"), "-S", "Version"])
    assert version.startswith(f"{changelog.strip()}+")
    assert changelog.startswith(f"{package_version()}-")
    release = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        release[key] = value.strip('"')
    name = "deb" if release["ID"] == "debian" else release["ID"]
    assert version.endswith(f"+{name}{release.get('VERSION_ID') or release['VERSION_CODENAME']}")


@pytest.mark.timeout(1600)
def test_depends_on_the_interpreter_the_venv_was_built_on(built: Built) -> None:
    """The venv's bytecode and native modules fit one python3 minor: Depends pins it; no
    python3-* library package is needed (they are all inside)."""
    minor = _run(["/usr/bin/python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    minor = minor.strip()
    major, sub = minor.split(".")
    relations = [
        alternative for group in parse_relations(built.fields["Depends"]) for alternative in group
    ]
    pairs = {(rel.name, rel.op, rel.version) for rel in relations}
    assert (f"python{minor}", None, None) in pairs
    assert ("python3", ">=", f"{minor}~") in pairs
    assert ("python3", "<<", f"{major}.{int(sub) + 1}~") in pairs
    assert "adduser" in {rel.name for rel in relations}
    libraries = {rel.name for rel in relations if rel.name.startswith("python3-")}
    assert libraries == set(), "Python libraries ship in the venv, not as Depends"


@pytest.mark.timeout(1600)
def test_conffiles_are_the_config_and_the_demo_recipe(built: Built, tmp_path: Path) -> None:
    _run(["dpkg-deb", "-e", str(built.deb), str(tmp_path / "DEBIAN")])
    conffiles = set((tmp_path / "DEBIAN" / "conffiles").read_text().split())
    assert conffiles == CONFFILES


@pytest.mark.timeout(1600)
def test_maintainer_scripts_stop_before_an_upgrade_and_start_after(
    built: Built, tmp_path: Path
) -> None:
    """dh_installsystemd --no-restart-after-upgrade: the new package's preinst stops the unit
    before its files are unpacked (the old daemon drains on its own, intact venv), prerm
    stops it on remove, postinst creates the user, the directories, enables and starts."""
    control = tmp_path / "DEBIAN"
    _run(["dpkg-deb", "-e", str(built.deb), str(control)])
    preinst = (control / "preinst").read_text()
    assert re.search(
        r'\[ "\$1" = upgrade \].*\n\s*deb-systemd-invoke stop \'autosred.service\'', preinst
    ), preinst
    prerm = (control / "prerm").read_text()
    assert re.search(
        r'\[ "\$1" = remove \].*\n\s*deb-systemd-invoke stop \'autosred.service\'', prerm
    ), prerm
    postinst = (control / "postinst").read_text()
    assert "deb-systemd-helper enable 'autosred.service'" in postinst
    assert "deb-systemd-invoke start 'autosred.service'" in postinst
    assert "deb-systemd-invoke restart" not in postinst
    assert 'systemd-tmpfiles ${DPKG_ROOT:+--root="$DPKG_ROOT"} --create autosred.conf' in (postinst)
    assert postinst.index("create_user\n") < postinst.index("systemd-tmpfiles ${DPKG_ROOT")
    for script in ("preinst", "postinst", "prerm", "postrm"):
        _run(["/bin/sh", "-n", str(control / script)])


@pytest.mark.timeout(1600)
def test_commands_on_path_link_into_the_venv(built: Built) -> None:
    for command in COMMANDS:
        mode = built.listing[f"usr/bin/{command}"]
        assert mode.startswith("l"), mode
        assert mode.endswith(f"-> ../lib/autosred/venv/bin/{command}"), mode
        script = built.root / VENV.lstrip("/") / "bin" / command
        assert script.read_text().splitlines()[0] == f"#!{VENV}/bin/python"


@pytest.mark.timeout(1600)
def test_files_shipped_as_in_the_repository(built: Built) -> None:
    for path, source in SHIPPED_AS_IS.items():
        assert (built.root / path).read_bytes() == source.read_bytes(), path
    for page in MAN_PAGES:
        assert page in built.listing, page
    assert "var/lib/autosred" not in built.listing, "tmpfiles makes it, owned by autosre"


@pytest.mark.timeout(1600)
def test_bash_completion_is_generated_from_the_parser(built: Built) -> None:
    generated = _run([sys.executable, "-m", "autosred.ctl.completion"], cwd=REPO)
    assert (built.root / COMPLETION).read_text() == generated


@pytest.mark.timeout(1600)
def test_venv_runs_from_the_unpacked_tree(built: Built) -> None:
    venv = built.root / VENV.lstrip("/")
    python = venv / "bin" / "python"
    # bin/python -> python3.X -> (the unpacked tree's usr/bin/python3.X ->) /usr/bin/python3.X
    assert python.resolve().parent == Path("/usr/bin").resolve()
    assert python.resolve().name.startswith("python3.")
    for command in COMMANDS[:2]:
        out = _run([str(python), str(venv / "bin" / command), "--version"])
        assert out.strip() == f"{command} {package_version()}"
    sim = _run([str(python), str(venv / "bin" / "autosred-sim"), "--help"])
    assert "SIMULATED" in sim
    # The one executable a wheel brings (Playwright's Node.js driver), stripped by dh_strip.
    for node in (venv / "lib").glob("python3.*/site-packages/playwright/driver/node"):
        assert _run([str(node), "--version"]).startswith("v")
    # Isolated from this checkout: the venv's own autosred, not the source tree's.
    where = _run([str(python), "-I", "-c", "import autosred; print(autosred.__file__)"], cwd="/")
    assert where.startswith(str(venv / "lib")), where


@pytest.mark.timeout(1600)
def test_installed_default_config_passes_check_config(built: Built) -> None:
    venv = built.root / VENV.lstrip("/")
    env = {
        "PATH": "/usr/bin:/bin",
        # The unpacked tree's recipes.d stands in for /etc/autosred/recipes.d.
        "AUTOSRED_RECIPES_DIR": str(built.root / "etc/autosred/recipes.d"),
    }
    out = _run(
        [
            str(venv / "bin" / "python"),
            str(venv / "bin" / "autosred"),
            "--check-config",
            "--config",
            str(built.root / "etc/autosred/autosred.yaml"),
        ],
        env=env,
    )
    assert out.strip().endswith("configuration is valid; engine process; recipes: demo"), out


@pytest.mark.timeout(1600)
def test_venv_holds_the_pinned_versions(built: Built) -> None:
    """Every distribution in the venv is the version constraints.txt pins (what CI tests)."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, _, version = line.partition("==")
        pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    site = next((built.root / VENV.lstrip("/") / "lib").glob("python3.*/site-packages"))
    installed = {}
    for info in site.glob("*.dist-info"):
        name, version = info.name.removesuffix(".dist-info").rsplit("-", 1)
        installed[re.sub(r"[-_.]+", "-", name).lower()] = version
    assert installed.pop("autosred") == package_version()
    assert {name: pins.get(name) for name in installed} == installed
    assert {"pydantic", "msgspec", "aiohttp", "mcp", "curl-cffi", "lxml"} <= installed.keys()


@pytest.mark.timeout(1600)
def test_bytecode_is_compiled_on_the_host_not_shipped(built: Built, tmp_path: Path) -> None:
    """Debian policy: no __pycache__ in the package; postinst compiles the venv (before the
    unit starts: the service cannot write under /usr), prerm removes what it compiled."""
    assert [path for path in built.listing if "__pycache__" in path or path.endswith(".pyc")] == []
    control = tmp_path / "DEBIAN"
    _run(["dpkg-deb", "-e", str(built.deb), str(control)])
    postinst = (control / "postinst").read_text()
    compile_at = postinst.index('"$VENV/bin/python" -I -m compileall')
    assert compile_at < postinst.index("deb-systemd-invoke start")
    prerm = (control / "prerm").read_text()
    assert 'find "$VENV" -name __pycache__ -type d -prune -exec rm -rf {} +' in prerm


@pytest.mark.timeout(1600)
def test_lintian_finds_no_errors(built: Built) -> None:
    """make deb fails on a lintian error; what it kept says so, and every warning left is
    one that debian/autosred.lintian-overrides does not cover (there should be none)."""
    errors = [line for line in built.lintian.splitlines() if line.startswith("E: ")]
    warnings = [line for line in built.lintian.splitlines() if line.startswith("W: ")]
    assert errors == []
    assert warnings == []
