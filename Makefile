# The two commands: `make run` and `make test`. Everything they need is set up here.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= etc/autosred/demo.yaml

.PHONY: run test test-deps lint typecheck layers pytest install-test bench check-config clean fake-k3s demo-k8s chart deb

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

run: $(STAMP)
	$(BIN)/autosred --config $(CONFIG)

check-config: $(STAMP)
	$(BIN)/autosred --check-config --config $(CONFIG)

lint: $(STAMP)
	$(BIN)/ruff check autosred fake_k3s tests helm $(wildcard bench)
	$(BIN)/ruff format --check autosred fake_k3s tests helm $(wildcard bench)

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

# --dist loadgroup: tests/install's modules (one booted container each) are meant to share one
# worker; they are also safe side by side (tests/install/conftest.py says why).
pytest: $(STAMP) test-deps deb
	$(BIN)/pytest -q -n auto --dist loadgroup -p no:cacheprovider

# The built .deb installed with apt and run under systemd in a booted Debian 12 container
# (tests/install): the container's root is made once with debootstrap and cached under
# build/install-test/ (make clean keeps it; rm -rf build/install-test to rebuild it).
# SUITE=NAME (by hand; make test runs this host's release only): the package make deb
# SUITE=NAME built, in a root of that release.
install-test: $(STAMP) test-deps deb
	AUTOSRED_INSTALL_TEST_SUITE=$(SUITE) $(BIN)/pytest -q -p no:cacheprovider tests/install

test-deps:
	bash tests/setup/install-test-deps.sh

test: test-deps lint typecheck layers pytest

# The Debian package: exactly one dist/autosred_*_$(dpkg --print-architecture).deb, built
# from the working tree (reused from build/deb/cache when its inputs did not change).
# packaging/README.md says how, and what the package holds.
# SUITE=NAME (trixie, noble, bookworm ...): for that release instead, built inside a root of it
# (debootstrap once, cached under build/deb/roots/) into dist/NAME/: its python3 builds the venv.
deb:
	bash packaging/build-deb.sh $(if $(SUITE),--suite $(SUITE))

bench: $(STAMP)
	bash tests/setup/install-test-deps.sh --bench
	$(BIN)/python -m bench.run

# helm/autosre packaged as dist/autosre-X.Y.Z.tgz by Helm's own packager (helm-python-sdk, in
# the test extra the stamp installs; no helm binary): X.Y.Z is autosred's version, which
# Chart.yaml's version and appVersion must carry (helm/package.py refuses otherwise).
chart: $(STAMP)
	$(BIN)/python helm/package.py dist

# The fake one-node k3s (fake_k3s/) in the foreground; see fake_k3s/README.md.
FAKE_K3S_PORT ?= 16443
fake-k3s: $(STAMP)
	$(BIN)/python -m fake_k3s --port $(FAKE_K3S_PORT) --kubeconfig-out runtime/fake-k3s/kubeconfig.yaml

# The daemon's kubernetes engine against the fake k3s (both in the foreground; Ctrl-C stops
# both): etc/autosred/demo-k8s.yaml, the built-in production recipe on simulated pods.
demo-k8s: $(STAMP)
	mkdir -p runtime/fake-k3s && rm -f runtime/fake-k3s/kubeconfig.yaml
	$(BIN)/python -m fake_k3s --port $(FAKE_K3S_PORT) \
	    --kubeconfig-out runtime/fake-k3s/kubeconfig.yaml & fake=$$!; \
	trap 'kill $$fake 2>/dev/null; wait $$fake' EXIT INT TERM; \
	for _ in $$(seq 100); do test -s runtime/fake-k3s/kubeconfig.yaml && break; sleep 0.1; done; \
	$(BIN)/autosred --config etc/autosred/demo-k8s.yaml

clean:
	rm -rf $(VENV) runtime .mypy_cache .ruff_cache .pytest_cache
