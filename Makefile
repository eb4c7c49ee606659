# The README's two commands: `make run` (the local four-city cluster) and `make test`.
# Everything else here is a building block of those two.

PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
BENCH_ARGS ?=

BIN := $(VENV)/bin
# Re-install the Python packages only when the package metadata changes.
STAMP := $(VENV)/.installed

.PHONY: help run test bench lint system-deps system-deps-test venv clean image test-image
.PHONY: lab lab-down test-lab

help:
	@echo "make run    start nginx, four web nodes, worker, gateway, scheduler, Redis (PORT=8000)"
	@echo "make test   install what the tests need and run them (PYTEST_ARGS='-k ...')"
	@echo "make bench  load test against a local cluster"
	@echo "make lint   flake8"
	@echo "make image  build docker/Dockerfile with docker, podman or buildah (IMAGE=absensi:latest)"
	@echo "make test-image  build the image and run every container test (tests/image)"
	@echo "make lab    the lab's Debian hosts (lab/lab.conf; netns + chroot) provisioned by ansible/site.yml"
	@echo "make lab-down  remove every lab host, mount, namespace and process"
	@echo "make test-lab  every lab test, including the slow ones CI skips"
	@echo "make clean  remove the venv and runtime files under var/"

run: system-deps venv
	@# exec: a SIGTERM to make reaches cluster.run itself, which stops every process
	exec $(BIN)/python -m cluster.run

test: system-deps-test venv
	@# pytest exits 5 when nothing was collected (e.g. a -k that matches nothing):
	@# that is a failure too, or a mistyped selection would pass CI.
	$(BIN)/pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; \
	exit $$status

bench: system-deps-test venv
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: venv
	@$(BIN)/python -m flake8 --version >/dev/null 2>&1 || \
		{ echo "make lint: flake8 is not installed ($(BIN)/pip install flake8)"; exit 1; }
	$(BIN)/python -m flake8 webapp wsgate tasks cluster tests bench

# `make run` needs nginx and Redis; the tests also start MariaDB and drive Chromium.
system-deps:
	bash scripts/system-deps.sh --no-mariadb

system-deps-test:
	bash scripts/system-deps.sh --browser --image --lab

# The Ansible lab (lab/, inventory/lab): needs root for namespaces and mounts.
lab: venv
	bash scripts/system-deps.sh --lab
	bash lab/up.sh

lab-down:
	bash lab/hosts.sh destroy var/lab

test-lab: system-deps-test venv
	LAB_FULL=1 $(BIN)/pytest -p no:cacheprovider -m lab tests/lab $(PYTEST_ARGS)

# One image for every role; podman/buildah with a base made by debootstrap when there is
# no Docker engine (docker/build-image.sh says which it used).
image:
	bash docker/build-image.sh

test-image: system-deps-test venv
	ABSENSI_IMAGE_FULL=1 $(BIN)/pytest -p no:cacheprovider tests/image $(PYTEST_ARGS)

venv: $(STAMP)

$(STAMP): setup.cfg setup.py pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# c-driver: mysqlclient, built against libmariadb-dev (scripts/system-deps.sh)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,c-driver]'
	@touch $@

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
