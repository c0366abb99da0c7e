"""File modes of the state directory and the signing key, checked before anything starts.

A state directory others may write lets them replace the wake history or the signing key
(and with it forge thinking signatures); a key file others may read lets them forge them
directly. Either is refused at start with the command that fixes it, rather than warned about
in a log nobody reads.
"""

from __future__ import annotations

import stat
from pathlib import Path

from autosred.daemon.keys import KEY_FILE


def state_mode_problems(state_dir: Path) -> list[str]:
    """What is wrong with the modes of ``state_dir`` and its key file (nothing when they do
    not exist yet: the daemon creates both 0700/0600)."""
    problems = []
    try:
        directory = state_dir.stat()
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"state_dir: {state_dir}: cannot inspect it: {exc.strerror or exc}"]
    if directory.st_mode & stat.S_IWOTH:
        problems.append(
            f"state_dir: {state_dir} is writable by every user "
            f"(mode {stat.S_IMODE(directory.st_mode):04o}), who could replace the daemon's "
            f"signing key: chmod 0700 {state_dir}"
        )
    key = state_dir / KEY_FILE
    try:
        key_mode = stat.S_IMODE(key.stat().st_mode)
    except FileNotFoundError:
        return problems
    except OSError as exc:
        return [*problems, f"state_dir: {key}: cannot inspect it: {exc.strerror or exc}"]
    if key_mode & 0o077:
        problems.append(
            f"state_dir: {key} is readable or writable by others (mode {key_mode:04o}), who "
            f"could forge thinking signatures with it: chmod 0600 {key}"
        )
    return problems
