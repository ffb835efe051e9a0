# Thin wrapper over CMake presets. `make demo` and `make test` are the README's quick start.
# CI (CI=true) builds with -Werror through the "ci" preset.
PRESET ?= $(if $(CI),ci,release)
BUILD := build/$(PRESET)
KEEL := $(BUILD)/apps/keel/keel
JOBS ?= $(shell nproc)

.PHONY: deps configure build demo test test-slow test-asan bench install package fuzz corpus model quant-table format clean

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

# Every parser under libFuzzer (clang-14, ASan+UBSan; tests/fuzz/): each harness runs for
# FUZZ_SECONDS or FUZZ_RUNS executions, whichever comes first (docs/reliability.md).
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?= 1000000
fuzz: deps
	cmake --preset fuzz >/dev/null
	cmake --build build/fuzz --target fuzz_all -j $(JOBS)
	tools/run_fuzzers.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_RUNS)

# Install into PREFIX (bin/keel, libexec/keel/keel-train, share/keel/, man pages, completion).
PREFIX ?= /usr/local
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The Debian package keel_<version>_amd64.deb in $(BUILD) (CPack; install it with apt install ./...).
package: build
	cd $(BUILD) && cpack -G DEB

# The en-es training corpus (fortunes + WordNet through Apertium, SentencePiece 8000, seed 1).
corpus: build
	$(KEEL) nmt corpus --pair en-es --out build/corpus/en-es --seed 1 --jobs $(JOBS)

# The en->es model (docs/nmt.md, "Training"): corpus (kept when already built), then keel's
# trainer with a fixed seed: small preset (3+3 layers, d_model 256, 4 heads, FFN 1024, ~7.6 M
# parameters with the 8 000-piece vocabulary), 1 500 steps of 2 048-token batches (1.4 epochs):
# about 20 minutes on 2 idle cores (~2 200 target tok/s; docs/benchmarks.md), longer on shared
# ones. Run again after an interruption: it resumes from the checkpoint.
MODEL_CORPUS := build/corpus/en-es
MODEL_DIR := build/model/en-es
model: build
	test -f $(MODEL_CORPUS)/spm.model || \
	  $(KEEL) nmt corpus --pair en-es --out $(MODEL_CORPUS) --seed 1 --jobs $(JOBS)
	$(KEEL) nmt train --train-src $(MODEL_CORPUS)/train.src.sp --train-tgt $(MODEL_CORPUS)/train.tgt.sp \
	  --dev-src $(MODEL_CORPUS)/dev.src.sp --dev-tgt $(MODEL_CORPUS)/dev.tgt.sp \
	  --dev-refs $(MODEL_CORPUS)/dev.tgt --spm-model $(MODEL_CORPUS)/spm.model \
	  --out $(MODEL_DIR) --preset small --max-tokens 2048 --lr-peak 1e-3 --warmup-steps 1000 \
	  --label-smoothing 0.1 --dropout 0.1 --clip-norm 1.0 --epochs 2 --max-steps 1500 --checkpoint-every 100 \
	  --seed 1 --threads $(JOBS) $(if $(wildcard $(MODEL_DIR)/checkpoint.pt),--resume)

# Test BLEU and speed of fp32, int8 static (KL, percentile, min-max) and int8-dynamic for the
# model `make model` trained (docs/benchmarks.md).
quant-table: build
	tools/nmt_quant_table.sh $(MODEL_DIR) $(MODEL_CORPUS) $(KEEL)

format:
	find include src apps tests bench -name '*.h' -o -name '*.cc' | xargs clang-format -i

clean:
	rm -rf build
