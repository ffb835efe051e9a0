# Thin wrapper over CMake presets. `make demo` and `make test` are the README's quick start.
# CI (CI=true) builds with -Werror through the "ci" preset.
PRESET ?= $(if $(CI),ci,release)
BUILD := build/$(PRESET)
KEEL := $(BUILD)/apps/keel/keel
JOBS ?= $(shell nproc)

.PHONY: deps configure build demo test test-slow test-asan bench corpus format clean

deps:
	./scripts/install-deps.sh

configure: deps
	cmake --preset $(PRESET) >/dev/null

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The main job on its built-in default: the power comparison of the default scenario.
demo: build
	$(KEEL) power compare examples/power/default.toml --spec examples/power/illustrative_spec.toml

test: build
	ctest --test-dir $(BUILD) -L unit --output-on-failure -j $(JOBS)

test-slow: build
	ctest --test-dir $(BUILD) -L slow --output-on-failure

test-asan: deps
	cmake --preset asan >/dev/null
	cmake --build build/asan -j $(JOBS)
	ctest --test-dir build/asan -L unit --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/bench/bench_power

# The en-es training corpus (fortunes + WordNet through Apertium, SentencePiece 8000, seed 1).
corpus: build
	$(KEEL) nmt corpus --pair en-es --out build/corpus/en-es --seed 1 --jobs $(JOBS)

format:
	find include src apps tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build
