#!/usr/bin/env bash
# Install the system packages the test suite needs, if they are missing. `make test` runs
# this before the tests; it is idempotent and quick when everything is already there
# (no apt at all then: `apt-get update` runs only when something must be installed).
#
# As root (CI, the dev containers): installs with apt-get. Not root: prints the
# apt-get command to run and exits 1 (nothing is installed behind your back with sudo).
#
# `make bench` runs it with --bench, which adds what the benchmarks need.
#
# To add a need: one "command package" line in REQUIRED below — the command whose absence
# means the package is missing, and the Debian package that provides it.
set -euo pipefail

# command             Debian package   needed by
REQUIRED=(
    "systemd-analyze  systemd"         # tests/packaging: verify + security of autosred.service
    "systemd-sysusers systemd"         # tests/packaging: sysusers file in a scratch root
    "systemd-tmpfiles systemd"         # tests/packaging: tmpfiles file in a scratch root
    "node             nodejs"          # tests/claude, tests/codex: the pinned clients
    "npm              npm"             # tests/claude: installs them (npm ci, below)
    "tmux             tmux"            # tests/watch: autosrectl watch in a real terminal
    "chromium         chromium"        # tests/mcp/browser: the browser the daemon starts
    "promtool         prometheus"      # tests/observability: rules, dashboard queries
    "prometheus       prometheus"      # tests/observability: a real Prometheus scrapes the daemon
    "dh               debhelper"       # tests/packaging/test_deb.py: make deb (debian/rules)
    "dpkg-buildpackage dpkg-dev"       # make deb
    "lintian          lintian"         # make deb: no lintian errors
    "pip3             python3-pip"     # make deb: installs the wheelhouse into the venv
    "debootstrap      debootstrap"     # tests/install: the minimal Debian root
    "systemd-nspawn   systemd-container" # tests/install: boots it with systemd as PID 1
)
# `--bench` (make bench): what the benchmarks need beyond the tests.
if [ "${1:-}" = "--bench" ]; then
    REQUIRED+=("nginx            nginx-light")  # bench/dropbox.py: the baseline TLS server
fi

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
# The real clients the conformance tests drive, pinned in tests/clients/package.json and its
# lock. `npm ci` runs only when node_modules is missing or older than the lock (or package.json);
# otherwise this section touches no network and takes milliseconds. node and npm come from
# REQUIRED above; without them (not root) the client tests skip themselves with a message.
clients_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../clients" && pwd)"
stamp="$clients_dir/node_modules/.installed"
if [ -f "$clients_dir/package-lock.json" ]; then
    if [ -f "$stamp" ] && [ "$stamp" -nt "$clients_dir/package-lock.json" ] \
        && [ "$stamp" -nt "$clients_dir/package.json" ]; then
        :   # current
    elif ! command -v npm >/dev/null 2>&1; then
        echo "install-test-deps.sh: npm not found; the real-client tests will be skipped" >&2
    else
        echo "install-test-deps.sh: npm ci in $clients_dir" >&2
        (cd "$clients_dir" && npm ci --include=optional --no-audit --no-fund --loglevel=error >&2)
        # Claude Code's postinstall copies the native binary over bin/claude.exe; an npm that
        # skips install scripts leaves a stub, so run it explicitly when --version fails.
        claude="$clients_dir/node_modules/.bin/claude"
        if [ -e "$claude" ] && ! "$claude" --version >/dev/null 2>&1; then
            (cd "$clients_dir/node_modules/@anthropic-ai/claude-code" && node install.cjs >&2)
        fi
        # Codex's native binary is an optional dependency (@openai/codex-linux-x64 …), hence
        # --include=optional above (an npm configured with omit=optional would leave a `codex`
        # that cannot start). No binary for this platform: say so once, here.
        codex="$clients_dir/node_modules/.bin/codex"
        if [ -e "$codex" ] && ! "$codex" --version >/dev/null 2>&1; then
            echo "install-test-deps.sh: $codex --version fails; the Codex tests will fail" >&2
        fi
        touch "$stamp"
    fi
fi
# -----------------------------------------------------------------------------------------

exit 0
