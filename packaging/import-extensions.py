"""Import every extension module (*.so) of a site-packages directory: run by debian/rules
after dh_strip, so that a native module the strip broke fails the package build.

    python3.X -I -B packaging/import-extensions.py SITE_PACKAGES

SITE_PACKAGES goes first on sys.path: the venv's own modules are the ones imported, by the
interpreter the venv was made with.
"""

from __future__ import annotations

import importlib
import sys
import sysconfig
from pathlib import Path


def module_name(site: Path, path: Path) -> str:
    relative = path.relative_to(site)
    stem = relative.name.split(".", 1)[0]
    return ".".join((*relative.parent.parts, stem))


def main() -> int:
    site = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(site))
    suffixes = (sysconfig.get_config_var("EXT_SUFFIX"), ".abi3.so", ".so")
    failed = []
    skipped = []
    count = 0
    for path in sorted(site.rglob("*.so")):
        if not path.name.endswith(suffixes) or ".libs" in path.parent.name:
            continue
        name = module_name(site, path)
        count += 1
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and not name.startswith(exc.name):
                # Its package needs a module the venv leaves out on purpose (greenlet.tests
                # wants psutil): the binary is not what failed. A bad strip shows as an
                # ImportError of the module itself (undefined symbol, bad ELF).
                skipped.append(f"{name}: needs {exc.name}, not installed")
                continue
            failed.append(f"{name}: {exc}")
        except ImportError as exc:
            failed.append(f"{name}: {exc}")
    for line in skipped:
        sys.stdout.write(f"import-extensions: skipped {line}\n")
    for line in failed:
        sys.stderr.write(f"import-extensions: {line}\n")
    imported = count - len(failed) - len(skipped)
    sys.stdout.write(f"import-extensions: {imported} of {count} extension modules import\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
