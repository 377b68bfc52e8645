#!/bin/bash
# Installs the host tools rustaufs needs: Debian packages, rust-src, bindgen-cli.
# Idempotent: a second run only checks (about a second).
. "$(dirname "$0")/lib.sh"

PKGS="build-essential bc flex bison libelf-dev libssl-dev cpio kmod busybox-static
      qemu-system-x86 python3-venv clang-19 lld-19 llvm-19 libclang-19-dev
      e2fsprogs xfsprogs btrfs-progs squashfs-tools attr acl python3-pytest
      nfs-kernel-server"
# nfs-kernel-server: rpcbind, rpc.mountd, rpc.nfsd, exportfs and mount.nfs for the knfsd test
# inside the VM (on a host run by systemd, apt starts its services; the tests do not need them).
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null |
          awk '$4 != "installed" {print $1}'; for p in $PKGS; do
          dpkg-query -W "$p" >/dev/null 2>&1 || echo "$p"; done)
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
    log "installing Debian packages: $missing"
    [ "$(id -u)" = 0 ] || die "installing packages needs root"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
    log "rustup component add rust-src"
    rustup component add rust-src
fi
if ! bindgen --version 2>/dev/null | grep -q '^bindgen 0\.72'; then
    log "cargo install bindgen-cli 0.72 (about 2 minutes)"
    cargo install --locked bindgen-cli --version '^0.72'
fi
