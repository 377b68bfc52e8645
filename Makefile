# rustaufs: the user entry points. The module itself is described by Kbuild, which kbuild
# reads instead of this file when it builds with M=<this dir>.
#   make [modules]  build rustaufs.ko (fetches and builds the test kernel first if missing)
#   make kernel     build the cached test kernel only (scripts/kernel.sh, ~30 min cold)
#   make check      host tests (cargo test in tests/host), then pytest tests/vm in the VM
#   make demo       boot the VM, mount sample unions and show them
#   make vm         interactive shell in the VM (exit or Ctrl-D ends it)
#   make clean      module build products and build/
# Variables: KDIR=<Rust-enabled kernel build tree>, PYTEST_ARGS='-k foo', VM_TIMEOUT=<s>,
# RUSTAUFS_KO=<prebuilt .ko>, KMEMLEAK=0, MODPARAMS=...: see scripts/vm.sh.

SHELL := /bin/bash
CACHE := $(or $(RUSTAUFS_CACHE),$(HOME)/.cache/rustaufs)
export PATH := $(HOME)/.cargo/bin:$(PATH)
export KDIR PYTEST_ARGS VM_TIMEOUT VM_DIR RUSTAUFS_KO KMEMLEAK MODPARAMS

.PHONY: all modules kernel check check-host demo vm clean

all: modules

modules:
	@scripts/build-module.sh

kernel:
	@mkdir -p $(CACHE) && flock $(CACHE)/kernel.lock scripts/kernel.sh

check: check-host
	@scripts/vm.sh check

# cargo test in tests/host if it exists; on failure the last line is "N passed, M failed".
check-host:
	@if [ ! -f tests/host/Cargo.toml ]; then echo "tests/host: no Cargo.toml, skipped"; exit 0; fi; \
	mkdir -p build; set -o pipefail; \
	cargo test --manifest-path tests/host/Cargo.toml 2>&1 | tee build/host-tests.log || { \
	    awk '/^test result:/ { p += $$4; f += $$6 } \
	         END { print p + 0 " passed, " (f ? f : 1) " failed" }' build/host-tests.log; \
	    exit 1; }

demo:
	@scripts/vm.sh demo

vm:
	@scripts/vm.sh shell

clean:
	@scripts/build-module.sh --clean
	rm -rf build
