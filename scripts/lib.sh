# Shared settings for scripts/*.sh: sourced, never run.
# Everything that is downloaded or built lives under $CACHE (default ~/.cache/rustaufs).
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RUSTAUFS_CACHE:-$HOME/.cache/rustaufs}
export LLVM=-19
export LIBCLANG_PATH=/usr/lib/llvm-19/lib
export PATH=$HOME/.cargo/bin:$PATH
. "$TOP/scripts/kernel-version"
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The effective config fragment: scripts/rustaufs.config, or with RUSTAUFS_KASAN=0 the
# same without KASAN (only to measure what KASAN costs; tests always use KASAN).
fragment() {
    if [ "${RUSTAUFS_KASAN:-1}" = 0 ]; then
        grep -v '^CONFIG_KASAN' "$TOP/scripts/rustaufs.config"
        echo '# CONFIG_KASAN is not set'
    else
        cat "$TOP/scripts/rustaufs.config"
    fi
}

# The kernel build directory for the current fragment and toolchain. Its name is the
# kernel version plus a hash of everything that changes the build's output.
kernel_key() {
    local ver
    ver=$(cat "$CACHE/src/VERSION" 2>/dev/null || echo "$VERSION")
    {
        echo "$ver"
        fragment
        rustc --version
        bindgen --version 2>/dev/null || true
        clang-19 --version | head -1
    } | sha256sum | cut -c1-12 | sed "s|^|${ver//[~+]/_}-|"
}
kernel_dir() { echo "$CACHE/build/$(kernel_key)"; }
