#!/usr/bin/env bash
# Install the system packages the test suite needs, if they are missing. `make test` runs
# this before the tests; it is idempotent and quick when everything is already there
# (no apt at all then: `apt-get update` runs only when something must be installed).
#
# As root (CI, the dev containers): installs with apt-get. Not root: prints the
# apt-get command to run and exits 1 (nothing is installed behind your back with sudo).
#
# To add a need: one "command package" line in REQUIRED below — the command whose absence
# means the package is missing, and the Debian package that provides it.
set -euo pipefail

# command             Debian package   needed by
REQUIRED=(
    "systemd-analyze  systemd"         # tests/packaging: verify + security of autosred.service
    "systemd-sysusers systemd"         # tests/packaging: sysusers file in a scratch root
    "systemd-tmpfiles systemd"         # tests/packaging: tmpfiles file in a scratch root
)

missing_packages=()
for entry in "${REQUIRED[@]}"; do
    read -r command package <<<"$entry"
    if ! command -v "$command" >/dev/null 2>&1; then
        case " ${missing_packages[*]} " in
            *" $package "*) ;;
            *) missing_packages+=("$package") ;;
        esac
    fi
done

if [ ${#missing_packages[@]} -gt 0 ]; then
    if [ "${EUID}" -ne 0 ]; then
        echo "install-test-deps.sh: missing Debian packages: ${missing_packages[*]}" >&2
        echo "run as root:  apt-get update && apt-get install -y --no-install-recommends" \
            "${missing_packages[*]}" >&2
        exit 1
    fi
    echo "install-test-deps.sh: installing ${missing_packages[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
    for entry in "${REQUIRED[@]}"; do
        read -r command package <<<"$entry"
        if ! command -v "$command" >/dev/null 2>&1; then
            echo "install-test-deps.sh: $package installed but $command still missing" >&2
            exit 1
        fi
    done
fi

# ---- npm clients (Claude Code, Codex CLI, MCP Inspector) -------------------------------
# RESERVED: the conformance tests will install their pinned npm clients here, from
# tests/clients/package.json (owned by the conformance work, not created here), e.g.
#   command -v node >/dev/null || <add "node nodejs" and "npm npm" to REQUIRED above>
#   [ tests/clients/node_modules/.installed -nt tests/clients/package-lock.json ] \
#       || (cd tests/clients && npm ci --no-audit --no-fund && touch node_modules/.installed)
# Keep it idempotent and skip the network when node_modules is current, like the above.
# -----------------------------------------------------------------------------------------

exit 0
