#!/bin/bash
# Fetches Debian's linux-source package (scripts/kernel-version), configures it as
# tinyconfig + scripts/rustaufs.config and builds it into $CACHE/build/<version>-<hash>/.
# A second run with the same inputs finds the finished build and returns at once.
# The apt configuration is private to $CACHE/apt: /etc/apt is only read, to learn the
# archive URI, never written.
. "$(dirname "$0")/lib.sh"

fetch_source() {
    [ -f "$CACHE/src/VERSION" ] && [ -d "$CACHE/src/linux" ] && return 0
    local A=$CACHE/apt uri pkg ver
    uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null) ||
        true
    [ -n "$uri" ] || die "no archive URI in /etc/apt/sources.list.d/debian.sources"
    mkdir -p "$A/lists/partial" "$A/archives/partial"
    printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" "$SUITES" >"$A/kernel.sources"
    local APT=(-o Dir::Etc::SourceList="$A/kernel.sources" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$A/lists" -o Dir::Cache::archives="$A/archives"
        -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
        -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
    log "apt-get update (private lists in $A)"
    apt-get "${APT[@]}" update -qq
    pkg=linux-source-$SERIES
    if apt-cache "${APT[@]}" madison "$pkg" | awk '{print $3}' | grep -qxF "$VERSION"; then
        ver=$VERSION
    else
        ver=$(apt-cache "${APT[@]}" madison "$pkg" | awk '{print $3}' | sort -V | tail -1)
        [ -n "$ver" ] || die "the archive has no $pkg"
        log "WARNING: $pkg $VERSION is gone from the archive; using $ver"
    fi
    rm -rf "$A/deb" "$CACHE/src"
    (cd "$A" && rm -f ./*.deb && apt-get "${APT[@]}" download -qq "$pkg=$ver")
    log "unpacking $pkg $ver"
    dpkg-deb -x "$A"/"${pkg}"_*.deb "$A/deb"
    mkdir -p "$CACHE/src"
    tar -xf "$A/deb/usr/src/$pkg.tar.xz" -C "$CACHE/src"
    mv "$CACHE/src/$pkg" "$CACHE/src/linux"
    rm -rf "$A/deb" "$A"/*.deb
    echo "$ver" >"$CACHE/src/VERSION"
}

configure() {
    local B=$1 SRC=$CACHE/src/linux
    log "configuring $B (tinyconfig + rustaufs.config)"
    make -s -C "$SRC" O="$B" tinyconfig >/dev/null
    fragment >"$B/rustaufs.config"
    (cd "$SRC" && scripts/kconfig/merge_config.sh -m -O "$B" "$B/.config" \
        "$B/rustaufs.config" >/dev/null)
    make -s -C "$SRC" O="$B" olddefconfig >/dev/null
    # Every line of the fragment must have survived olddefconfig.
    local bad=0 line
    while IFS= read -r line; do
        case "$line" in
        CONFIG_*) grep -qxF "$line" "$B/.config" || { echo "  lost: $line" >&2; bad=1; } ;;
        "# CONFIG_"*) grep -qxF "$line" "$B/.config" ||
            ! grep -q "^${line#\# }" "$B/.config" || { echo "  lost: $line" >&2; bad=1; } ;;
        esac
    done <"$B/rustaufs.config"
    [ $bad = 0 ] || die "kernel config lost fragment options (above)"
}

main() {
    "$TOP/scripts/setup-host.sh"
    fetch_source
    local B
    B=$(kernel_dir)
    if [ -f "$B/.done" ]; then
        echo "$B"
        return 0
    fi
    mkdir -p "$B"
    make -s -C "$CACHE/src/linux" rustavailable >/dev/null ||
        die "Rust is not available for this kernel (make rustavailable)"
    if [ ! -f "$B/.configured" ]; then
        configure "$B"
        touch "$B/.configured"
    fi
    log "building the kernel in $B (about 30 minutes cold on 2 cores)"
    local t0=$SECONDS
    make -s -C "$CACHE/src/linux" O="$B" -j"$(($(nproc) + 1))" >"$B/build.log" 2>&1 ||
        { tail -40 "$B/build.log" >&2; die "kernel build failed (log: $B/build.log)"; }
    log "kernel built in $((SECONDS - t0)) s"
    touch "$B/.done"
    echo "$B"
}
main "$@"
