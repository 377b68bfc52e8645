#!/bin/bash
# Builds rustaufs.ko (Kbuild at the top of the repo) against a Rust-enabled kernel tree.
#   scripts/build-module.sh          build $TOP/rustaufs.ko
#   scripts/build-module.sh --kdir   only make sure the kernel is built; print its build dir
#   scripts/build-module.sh --clean  remove the module's build products (builds nothing)
# KDIR=/path uses that kernel build tree; otherwise the cached test kernel
# (scripts/kernel.sh), which is set up and built first if it is missing.
. "$(dirname "$0")/lib.sh"

# Sets KDIR, building the cached kernel if needed.
ensure_kdir() {
    if [ -n "${KDIR:-}" ]; then
        [ -f "$KDIR/Makefile" ] || die "KDIR=$KDIR is not a kernel build tree"
        return 0
    fi
    # kernel_dir hashes the versions of rustc, bindgen and clang-19: install them first.
    "$TOP/scripts/setup-host.sh"
    KDIR=$(kernel_dir)
    [ -f "$KDIR/.done" ] && return 0
    # Never start a second build of the same tree: wait for one that is running.
    local pid
    while command -v pgrep >/dev/null && pid=$(pgrep -f "O=$KDIR( |$)" | head -1) && [ -n "$pid" ]; do
        log "waiting for the kernel build already running in $KDIR (pid $pid)"
        while kill -0 "$pid" 2>/dev/null; do sleep 10; done
    done
    [ -f "$KDIR/.done" ] && return 0
    mkdir -p "$CACHE"
    KDIR=$(flock "$CACHE/kernel.lock" "$TOP/scripts/kernel.sh" | tail -1)
    [ -f "$KDIR/.done" ] || die "scripts/kernel.sh did not produce a kernel"
}

# Kbuild's clean if the kernel tree is at hand, else the same files by name.
clean() {
    local kdir=${KDIR:-}
    [ -n "$kdir" ] || kdir=$(kernel_dir 2>/dev/null) || true
    if [ -f "$kdir/Makefile" ]; then
        make -C "$kdir" M="$TOP" LLVM=-19 clean
    else
        find "$TOP" -path "$TOP/tests" -prune -o -path "$TOP/build" -prune -o -type f \
            \( -name '*.o' -o -name '*.ko' -o -name '*.mod' -o -name '*.mod.c' -o -name '.*.cmd' \
            -o -name modules.order -o -name Module.symvers \) -print0 | xargs -0 rm -f
    fi
    rm -rf "$TOP/build/bindgen" "$TOP/rust/vfs/bindings_generated.rs"   # (the old place)
}

case ${1:-} in
--clean) clean; exit 0 ;;
esac
ensure_kdir
if [ "${1:-}" = --kdir ]; then
    echo "$KDIR"
    exit 0
fi
log "building rustaufs.ko against $KDIR"
make -C "$KDIR" M="$TOP" LLVM=-19 -j"$(nproc)" modules
[ -f "$TOP/rustaufs.ko" ] || die "the build produced no rustaufs.ko"
