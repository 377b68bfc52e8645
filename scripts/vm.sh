#!/bin/bash
# Boots the test kernel under TCG with rustaufs.ko, the host root shared read-only over
# 9p and three scratch disks; scripts/guest-init.sh runs MODE inside; then scans the logs.
#   scripts/vm.sh demo    mount sample unions, show them, unmount, rmmod
#   scripts/vm.sh check   python3 -m pytest -v tests/vm $PYTEST_ARGS; the last line printed
#                         is pytest's summary or "N passed, M failed" (M counts log splats)
#   scripts/vm.sh shell   interactive shell on the serial console; exit/Ctrl-D ends it
# Environment:
#   KDIR         kernel build tree (default: the cached test kernel, built if missing)
#   RUSTAUFS_KO  boot this prebuilt module instead of building $TOP/rustaufs.ko
#   VM_TIMEOUT   seconds before the VM is killed (check 2400, demo 300, shell 86400)
#   PYTEST_ARGS  extra pytest arguments (shell words)    RUSTAUFS_TEST_TIMEOUT  per test (600)
#   VM_MEM VM_SMP VM_APPEND  memory (4G), CPUs (2), extra kernel command line
#   VM_PANIC     panic on (demo, check): "oops=panic hung_task_panic=1"; VM_PANIC= for none
#   MODPARAMS    insmod parameters    KMEMLEAK=0  skip the final kmemleak scans (~20 s)
#   NINEP_CACHE  9p cache mode of the host root (cache=loose)
#   POWERCUT     1/0: do/skip the power-cut boot before the check boot (default: when
#                PYTEST_ARGS is empty or names test_power_cut)
#   VM_DIR       work dir (build/vm): initramfs, disk images, console.log, out/ (results:
#                pytest.log, dmesg, kmemleak, timing, exit-code). One VM at a time per dir.
. "$(dirname "$0")/lib.sh"
export PATH=$PATH:/usr/sbin:/sbin

MODE=${1:-}
case $MODE in
check) T=${VM_TIMEOUT:-2400} ;;
demo) T=${VM_TIMEOUT:-300} ;;
shell) T=${VM_TIMEOUT:-86400} ;;
*) die "usage: $0 demo|check|shell" ;;
esac
V=${VM_DIR:-$TOP/build/vm}
OUT=$V/out
PY=/usr/bin/python3

# The last line of a failed check: what make check users and CI parse.
fail_line() {
    echo "vm: $*" >&2
    [ "$MODE" != check ] || echo "0 passed, 1 failed"
    exit 1
}

# Sets KO: the module to boot.
prepare_module() {
    if [ -n "${RUSTAUFS_KO:-}" ]; then
        KO=$RUSTAUFS_KO
    else
        "$TOP/scripts/build-module.sh" || fail_line "module build failed"
        KO=$TOP/rustaufs.ko
    fi
    [ -f "$KO" ] || fail_line "no module $KO"
}

# build/vm/initramfs.cpio: static busybox, /init, the module, the run's settings.
make_initramfs() {
    local R=$V/initramfs
    ! ldd /bin/busybox >/dev/null 2>&1 || die "/bin/busybox is not static (install busybox-static)"
    rm -rf "$R"
    mkdir -p "$R"/{bin,etc,proc,sys,dev,newroot,out}
    cp /bin/busybox "$R/bin/"
    install -m 755 "${GUEST_INIT:-$TOP/scripts/guest-init.sh}" "$R/init"   # (override: experiments)
    cp "$KO" "$R/rustaufs.ko"
    q() { printf "export %s='%s'\n" "$1" "${2//\'/\'\\\'\'}"; }
    local rows=24 cols=80
    [ ! -t 0 ] || read -r rows cols < <(stty size)
    {
        q TOP "$TOP"
        q PYTEST_ARGS "${PYTEST_ARGS:-}"
        q RUSTAUFS_TEST_TIMEOUT "${RUSTAUFS_TEST_TIMEOUT:-600}"
        q MODPARAMS "${MODPARAMS:-}"
        q KMEMLEAK "${KMEMLEAK:-1}"
        q NINEP_CACHE "${NINEP_CACHE:-cache=loose}"
        q TERM "${TERM:-linux}"
        q ROWS "$rows"
        q COLS "$cols"
    } >"$R/etc/rustaufs.env"
    (cd "$R" && find . | cpio -o -H newc --quiet) >"$V/initramfs.cpio"
}

# Fresh sparse 1 GiB scratch disks, formatted here: the same mkfs binaries the guest would
# run, natively instead of under TCG.
make_disks() {
    local fs img
    for fs in ext4 xfs btrfs; do
        img=$V/$fs.img
        rm -f "$img" && truncate -s 1G "$img"
        case $fs in
        ext4) mkfs.ext4 -q -F "$img" ;;
        xfs) mkfs.xfs -q -f "$img" ;;
        btrfs) mkfs.btrfs -q -f "$img" >/dev/null ;;
        esac
        DISKS+=(-drive "file=$img,if=none,id=$fs,format=raw,cache=unsafe"
            -device "virtio-blk-pci,drive=$fs,serial=$fs")
    done
}

# qemu's stderr without its warning about the fw_cfg name above.
quiet() { grep --line-buffered -v 'fw_cfg item names should be prefixed'; }

# Sets QEMU: the qemu command line for a boot in mode $1 with the disks in DISKS.
qemu_cmd() {
    # An oops or a task hung for 60 s ends the run at once (panic, then -no-reboot)
    # instead of leaving a wrecked kernel to the time limit. Not in the shell.
    local panic=
    [ "$1" = shell ] || panic=${VM_PANIC-oops=panic hung_task_panic=1}
    QEMU=(qemu-system-x86_64 -accel tcg -m "${VM_MEM:-4G}" -smp "${VM_SMP:-2}"
        -nographic -no-reboot -kernel "$KDIR/arch/x86/boot/bzImage" -initrd "$V/initramfs.cpio"
        -append "console=ttyS0 panic=-1 loglevel=5 log_buf_len=8M $panic MODE=$1 ${VM_APPEND:-}"
        -nic none -device virtio-rng-pci
        -fw_cfg name=etc/sercon-port,string=0    # SeaBIOS: no terminal reset on our tty
        -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
        -virtfs "local,path=$OUT,mount_tag=out,security_model=none"
        "${DISKS[@]}")
}

# The power cut of tests/vm/test_power_cut.py: wanted by a full check, or by one whose
# PYTEST_ARGS name it; POWERCUT=0/1 decides instead.
want_power_cut() {
    [ "$MODE" = check ] || return 1
    case ${POWERCUT:-} in 0) return 1 ;; 1) return 0 ;; esac
    [ -z "${PYTEST_ARGS:-}" ] || [[ $PYTEST_ARGS == *power_cut* ]]
}

# A first boot (MODE=powercut, only the disk "powercut") that starts a 256 MiB copy-up
# and asks, through $OUT/powercut/cut-now, to be killed: qemu gets SIGKILL. The check boot
# then gets the same disk. What happened is in $OUT/powercut/host and state.json, for
# the test; its console is $V/powercut-console.log, scanned by verdict.
power_cut_boot() {
    local img=$V/powercut.img pid t0 what
    rm -f "$img" && truncate -s 1G "$img" && mkfs.ext4 -q -F "$img"
    mkdir -p "$OUT/powercut"
    DISKS=(-drive "file=$img,if=none,id=powercut,format=raw,cache=unsafe"
        -device "virtio-blk-pci,drive=powercut,serial=powercut")
    qemu_cmd powercut
    log "power-cut boot: a 256 MiB copy-up on ext4, qemu killed in the middle"
    t0=$SECONDS
    "${QEMU[@]}" </dev/null >"$V/powercut-console.log" 2> >(quiet >&2) &
    pid=$!
    what="guest did not ask for the cut (see $V/powercut-console.log)"
    while kill -0 $pid 2>/dev/null; do
        if [ -e "$OUT/powercut/cut-now" ]; then
            kill -KILL $pid
            what="killed $((SECONDS - t0)) s after qemu started"
            break
        fi
        if [ $((SECONDS - t0)) -gt 600 ]; then
            kill -KILL $pid
            what="timeout: guest did not ask for the cut in 600 s"
            break
        fi
        sleep 0.01
    done
    wait $pid 2>/dev/null || true
    # Only the power cut's own results stay for the check boot.
    find "$OUT" -mindepth 1 -maxdepth 1 ! -name powercut -exec rm -rf {} +
    echo "$what" >"$OUT/powercut/host"
    log "power-cut boot: $what"
    POWERCUT_DISK=("${DISKS[@]}")
}

boot() {
    qemu_cmd "$MODE"
    local qemu=("${QEMU[@]}")
    log "booting the VM ($MODE, timeout ${T}s)${RUSTAUFS_KO:+ with $KO}"
    [ "$MODE" != shell ] || log "serial console: Ctrl-A x kills the VM"
    T0=$(date +%s.%N)
    # --foreground: qemu stays in our process group, so Ctrl-C reaches it.
    set +e
    if [ "$MODE" = shell ]; then
        timeout --foreground -k 10 "$T" "${qemu[@]}" 2> >(quiet >&2) | tee "$V/console.log"
    else
        timeout --foreground -k 10 "$T" "${qemu[@]}" </dev/null 2> >(quiet >&2) |
            tee "$V/console.log"
    fi
    QRC=${PIPESTATUS[0]}
    set -e
    T1=$(date +%s.%N)
    [ ! -t 0 ] || stty sane 2>/dev/null || true
}

# Prints the phases, timed on the host: the mtimes of the guest's stamp files.
report_timing() {
    [ -d "$OUT/stamps" ] || return 0
    (cd "$OUT/stamps" && stat -c '%n %.9Y' -- *) | awk -v t0="$T0" -v t1="$T1" '
        { t[$1] = $2 - t0 }
        END {
            printf "vm timing (s since qemu start): /init %.1f, ready %.1f", t["init"], t["ready"]
            if ("pytest-start" in t) printf ", pytest start %.1f", t["pytest-start"]
            if ("pytest-end" in t) printf ", pytest %.1f", t["pytest-end"] - t["pytest-start"]
            if ("end" in t) printf ", cleanup %.1f", t["end"] - t["stage2-end"]
            printf ", total %.1f\n", t1 - t0
        }' >&2
}

# Final verdict. Check mode prints pytest's summary line last, or "N passed, M failed"
# when something beyond pytest failed (log splat, rmmod, umount, crash, timeout).
verdict() {
    local extra=0 rc line passed failed
    rc=$(cat "$OUT/exit-code" 2>/dev/null || echo none)
    # One failure for a run that did not finish, whatever the reason.
    if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
        echo "vm: TIMEOUT: the VM was killed after ${T}s" >&2; extra=1
    elif [ "$rc" = none ]; then
        echo "vm: the guest did not finish (qemu status $QRC; kernel panic?)" >&2; extra=1
    elif [ "$QRC" != 0 ]; then
        echo "vm: qemu exited with status $QRC" >&2; extra=1
    fi
    if [ -s "$OUT/guest-errors" ]; then
        echo "vm: guest errors:" >&2; sed 's/^/  /' "$OUT/guest-errors" >&2
        extra=$((extra + $(wc -l <"$OUT/guest-errors")))
    fi
    local logs=("$OUT/dmesg" "$V/console.log" "$OUT/kmemleak")
    [ ${#POWERCUT_DISK[@]} = 0 ] || logs+=("$V/powercut-console.log")
    if ! $PY "$TOP/scripts/check-log.py" "${logs[@]}"; then
        extra=$((extra + 1))
    fi
    report_timing
    if [ "$MODE" != check ]; then
        [ "$rc" = 0 ] && [ $extra = 0 ] && { log "vm $MODE: OK"; return 0; }
        log "vm $MODE: FAILED (exit code $rc, $extra other failure(s))"
        return 1
    fi
    line=$(grep -aE '(passed|failed|errors?|skipped|deselected|collected|no tests ran).* in [0-9.]+s' \
        "$OUT/pytest.log" 2>/dev/null | tail -1 || true)
    if [ -n "$line" ] && [ $extra = 0 ]; then
        echo "$line"
        [ "$rc" = 0 ]
        return
    fi
    if [ -n "$line" ]; then
        read -r passed failed < <(awk '{
            for (i = 2; i <= NF; i++) {
                if ($i ~ /^passed/) p += $(i - 1)
                if ($i ~ /^(failed|error)/) f += $(i - 1)
            } } END { print p + 0, f + 0 }' <<<"$line")
    else    # pytest did not finish: count the -v result lines it printed
        passed=$(grep -acE '::.* PASSED' "$OUT/pytest.log" 2>/dev/null || true)
        failed=$(grep -acE '::.* (FAILED|ERROR)' "$OUT/pytest.log" 2>/dev/null || true)
        [ "$extra" != 0 ] || extra=1
    fi
    echo "${passed:-0} passed, $((${failed:-0} + extra)) failed"
    return 1
}

main() {
    mkdir -p "$V"
    exec 9>"$V/.lock"
    flock -n 9 || { log "waiting for another VM run using $V"; flock 9; }
    if [ -z "${KDIR:-}" ]; then
        KDIR=$("$TOP/scripts/build-module.sh" --kdir | tail -1) || fail_line "no kernel"
    fi
    export KDIR
    prepare_module
    rm -rf "$OUT" && mkdir -p "$OUT"
    make_initramfs
    POWERCUT_DISK=()
    ! want_power_cut || power_cut_boot
    DISKS=()
    make_disks
    DISKS+=("${POWERCUT_DISK[@]}")
    boot
    verdict
}
main
