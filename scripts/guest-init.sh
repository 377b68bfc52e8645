#!/bin/busybox sh
# /init of the rustaufs test VM (scripts/vm.sh packs it into the initramfs).
#
# Stage 1 (this file as /init, busybox ash, PID 1): mounts the host root read-only over 9p
# at /newroot, puts tmpfs where tests write, mounts the scratch disks, loads rustaufs.ko.
# Stage 2 (the same file, `guest-init.sh stage2 MODE`, run by Debian's dash in a chroot to
# /newroot, i.e. the host's userland): the demo, pytest, an interactive shell, or the
# power cut (tests/vm/power_cut.py: vm.sh kills qemu in the middle of it).
# Back in stage 1: kill leftovers, unmount everything, rmmod, kmemleak scans, save dmesg
# and the exit code to the results share, `reboot -f` (qemu runs with -no-reboot).
# Kept POSIX sh: both busybox ash and dash run it.

# Paths inside the chroot (stage 2) and their stage-1 view under /newroot.
RUN=/run/rustaufs             # results share at $RUN/out, module, this script
DEMO=/tmp/demo                # sample branches for the demo and the shell

now() { cut -d' ' -f1 /proc/uptime; }
# Phase stamps: guest uptime in /out/timing; vm.sh reports the host-side mtime of
# /out/stamps/NAME instead (the guest clock is jiffies-based and lags under load).
stamp() { echo "$1 $(now)" >>/out/timing; echo >/out/stamps/$1; }

# ---------------------------------------------------------------- stage 2 helpers

# Sample branches: a home dir under a write layer, and two dirs to merge.
make_samples() {
    rm -rf $DEMO && mkdir -p $DEMO/write $DEMO/home/docs $DEMO/files1/sub $DEMO/files2/sub \
        $DEMO/union-home $DEMO/union-files
    echo 'alias ll="ls -la"' >$DEMO/home/.bashrc
    printf 'line 1 of notes\n' >$DEMO/home/notes.txt
    echo 'delete me through the union' >$DEMO/home/old.txt
    echo 'readme in the read-only home' >$DEMO/home/docs/readme
    echo 'hidden by the whiteout .wh.secret.txt on the write branch' >$DEMO/home/secret.txt
    : >$DEMO/write/.wh.secret.txt
    echo 'only in files1' >$DEMO/files1/a.txt
    echo 'common.txt from files1 (top)' >$DEMO/files1/common.txt
    echo 'x in files1/sub' >$DEMO/files1/sub/x
    echo 'only in files2' >$DEMO/files2/b.txt
    echo 'common.txt from files2 (hidden)' >$DEMO/files2/common.txt
    echo 'y in files2/sub' >$DEMO/files2/sub/y
}

# Prints a command and runs it; a failure is counted in $failed and returned.
failed=0
run() {
    printf '\n\033[1m$'
    for a in "$@"; do
        case $a in *' '*) printf " '%s'" "$a" ;; *) printf ' %s' "$a" ;; esac
    done
    printf '\033[0m\n'
    "$@" && return 0
    set -- $? "$*"
    echo "!!! failed (exit $1): $2"
    failed=$((failed + 1))
    return "$1"
}

# For each name in union $1, the branches among $2... that have it: a directory merges
# all of them, anything else comes from the first.
where_from() {
    u=$1; shift
    printf '\n\033[1m# where each name of %s comes from\033[0m\n' "$u"
    for f in $(ls -A "$u"); do
        has=
        for b in "$@"; do
            [ -e "$b/$f" ] || [ -L "$b/$f" ] && has="$has $b"
        done
        first=${has# } && first=${first%% *}
        if [ -d "$u/$f" ]; then
            printf '  %-12s merged from:%s\n' "$f/" "$has"
        elif [ "$first" != "${has# }" ]; then
            printf '  %-12s from %s (hides:%s)\n' "$f" "$first" "${has#* $first}"
        else
            printf '  %-12s from %s\n' "$f" "$first"
        fi
    done
}

title() { printf '\n\033[1m# %s\033[0m\n' "$*"; }

# Each union is looked at only if it mounted: otherwise the commands would show (and
# write to) the bare mount point.
demo() {
    make_samples
    H=$DEMO/union-home F=$DEMO/union-files
    run grep -w rustaufs /proc/filesystems
    title "a home dir (read-only branch) under a write layer"
    run ls -A $DEMO/write $DEMO/home
    if run mount -t rustaufs -o br=$DEMO/write=rw:$DEMO/home=ro none $H; then
        run ls -la $H
        run cat $H/notes.txt
        run grep " $H " /proc/mounts
        run stat -c '%n: dev %d, ino %i, %s bytes' $H/notes.txt $DEMO/home/notes.txt
        where_from $H $DEMO/write $DEMO/home
        if grep -q " $H rustaufs ro[ ,]" /proc/mounts; then
            title "(the union is read-only: the module does not write yet)"
        else
            title "writing through the union: copy-up and a whiteout land on the write branch"
            run sh -c "echo 'line 2, added through the union' >>$H/notes.txt"
            run rm $H/old.txt
            run ls -la $H $DEMO/write
            run cat $H/notes.txt $DEMO/home/notes.txt
            where_from $H $DEMO/write $DEMO/home
        fi
        run umount $H
    fi
    title "two directories merged"
    if run mount -t rustaufs -o dirs=$DEMO/files1:$DEMO/files2 none $F; then
        run ls -la $F $F/sub
        run cat $F/common.txt $F/a.txt $F/b.txt
        run grep " $F " /proc/mounts
        where_from $F $DEMO/files1 $DEMO/files2
        where_from $F/sub $DEMO/files1/sub $DEMO/files2/sub
        run umount $F
    fi
    echo
    [ $failed = 0 ] && echo "demo: all commands succeeded" || echo "demo: $failed command(s) FAILED"
    return $failed
}

check() {
    cd "$TOP" || return 1
    echo "pytest-start $(now)" >>$RUN/out/timing; echo >$RUN/out/stamps/pytest-start
    # The repo is read-only here: no cache dir, no .pyc; faulthandler dumps the Python
    # stacks of a test that runs longer than the limit.
    eval "set -- $PYTEST_ARGS"
    # tests/vm, unless the arguments name test files or dirs themselves.
    paths=tests/vm
    for a in "$@"; do
        case $a in -*) ;; *) [ ! -e "${a%%::*}" ] || paths= ;; esac
    done
    { /usr/bin/python3 -m pytest -v -p no:cacheprovider \
          -o faulthandler_timeout="${RUSTAUFS_TEST_TIMEOUT:-600}" $paths "$@" </dev/null
      echo $? >$RUN/out/pytest-rc; } 2>&1 | tee $RUN/out/pytest.log
    echo "pytest-end $(now)" >>$RUN/out/timing; echo >$RUN/out/stamps/pytest-end
    return "$(cat $RUN/out/pytest-rc 2>/dev/null || echo 1)"
}

shell() {
    make_samples
    [ -n "${COLS:-}" ] && stty rows "$ROWS" cols "$COLS" 2>/dev/null
    cat >$RUN/bashrc <<EOF
[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc
PS1='rustaufs-vm:\w# '
cd "$TOP"
cat <<'MOTD'
rustaufs test VM: rustaufs.ko is loaded; the host root is read-only, /tmp /root /run are tmpfs.
Sample branches: $DEMO/{write,home,files1,files2}; mount points: $DEMO/union-{home,files}
  mount -t rustaufs -o br=$DEMO/write=rw:$DEMO/home=ro none $DEMO/union-home
  mount -t rustaufs -o dirs=$DEMO/files1:$DEMO/files2 none $DEMO/union-files
  python3 -m pytest -p no:cacheprovider tests/vm -k smoke
Scratch disks: /mnt/ext4 /mnt/xfs /mnt/btrfs.  exit or Ctrl-D: rmmod, log scan, reboot.
MOTD
EOF
    bash --rcfile $RUN/bashrc -i
    return 0
}

stage2() {
    . $RUN/env
    case $1 in
    demo) demo ;;
    check) check ;;
    shell) shell ;;
    powercut) cd "$TOP" && /usr/bin/python3 tests/vm/power_cut.py cut ;;
    esac
}

# ---------------------------------------------------------------- stage 1

# Records a failure of the harness or of rmmod/umount: it fails the run.
err() {
    echo "rustaufs-vm: ERROR: $*"
    echo "$*" >>/out/guest-errors
}

setup() {
    /bin/busybox --install -s /bin
    export PATH=/bin
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    exec 0</dev/console 1>/dev/console 2>&1   # the initramfs has no /dev/console node
    mount -t debugfs debugfs /sys/kernel/debug
    # Results share first, so that every later error is recorded.
    mkdir -p /out /newroot
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out ||
        echo "rustaufs-vm: ERROR: cannot mount the results share"
    mkdir -p /out/stamps
    stamp init
    . /etc/rustaufs.env
    # Automatic scans would cost 8-15 s each at random times: scan at the end only.
    echo scan=off >/sys/kernel/debug/kmemleak 2>/dev/null
    hostname rustaufs-vm
    ip link set lo up 2>/dev/null

    # The host's userland, read-only. cache=loose: the host side does not change during
    # a run, and caching dentries and pages makes Python start much faster.
    mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,ro,$NINEP_CACHE" host /newroot ||
        { err "cannot mount the host root over 9p"; return 1; }
    stamp root
    # The repo may live where a tmpfs goes (a clone in /root): local_mounts binds it back.
    mkdir -p /repo && mount -o bind "/newroot$TOP" /repo
    # The scratch disks mount in the background, while the rest is set up.
    mount -t tmpfs -o mode=755 tmpfs /newroot/mnt || { err "tmpfs on /mnt"; return 1; }
    disks &
    local_mounts || return 1
    stamp local
    cp /rustaufs.ko /init /newroot$RUN/
    mv /newroot$RUN/init /newroot$RUN/guest-init.sh
    cat >/newroot$RUN/env <<EOF
export RUSTAUFS_VM=1 RUSTAUFS_OUT=$RUN/out RUSTAUFS_KO=$RUN/rustaufs.ko
export RUSTAUFS_EXT4=/mnt/ext4 RUSTAUFS_XFS=/mnt/xfs RUSTAUFS_BTRFS=/mnt/btrfs
export HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
# Finding setuptools entry points reads every dist-info over 9p: 3 s. No plugins needed.
export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
EOF
    cat /etc/rustaufs.env >>/newroot$RUN/env
    if insmod /rustaufs.ko $MODPARAMS; then
        echo "rustaufs-vm: rustaufs.ko loaded"
    else
        err "insmod rustaufs.ko failed"
    fi
    wait    # for the disks
    stamp ready
}

# Kernel filesystems and tmpfs inside /newroot, so that stage 2 can write where tests do.
local_mounts() {
    N=/newroot
    mount -t proc proc $N/proc && mount -t sysfs sysfs $N/sys &&
        mount -t debugfs debugfs $N/sys/kernel/debug && mount -t devtmpfs devtmpfs $N/dev ||
        { err "cannot mount proc/sys/dev in /newroot"; return 1; }
    mkdir -p /dev/pts /dev/shm
    ln -sf /proc/self/fd /dev/fd
    ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout
    ln -sf /proc/self/fd/2 /dev/stderr
    mount -t devpts -o ptmxmode=0666,mode=620,gid=5 devpts $N/dev/pts
    for d in tmp:1777 var/tmp:1777 dev/shm:1777 run:755 root:700; do
        mount -t tmpfs -o mode=${d#*:} tmpfs $N/${d%:*} || { err "tmpfs on /${d%:*}"; return 1; }
    done
    [ -d "$N$TOP/tests/vm" ] || { mkdir -p "$N$TOP" && mount -o bind /repo "$N$TOP"; }
    mkdir -p $N$RUN/out
    mount -o bind /out $N$RUN/out
}

# Scratch disks, found by their serial (= fs type), all at once; vm.sh formats them on
# the host. Runs in the background: errors reach the run through /out/guest-errors only.
# The power-cut disk is left alone: its tests mount it themselves.
disks() {
    for dev in /sys/block/vd*; do
        [ -e "$dev" ] || continue
        fs=$(cat $dev/serial 2>/dev/null)
        [ "$fs" != powercut ] || continue
        mkdir -p /newroot/mnt/$fs
        mount -t $fs /dev/${dev##*/} /newroot/mnt/$fs || err "cannot mount the $fs scratch disk" &
    done
    wait
}

# Unmounts everything under /newroot, deepest first, then /newroot.
unmount_all() {
    for m in $(awk '$2 ~ "^/newroot/" {print $2}' /proc/mounts | sort -r); do
        umount $m 2>/dev/null && continue
        umount -l $m
        case $m in
        /newroot/proc|/newroot/sys*|/newroot/dev*) ;;   # /dev/console of stage 2, ...
        *) err "umount $m: busy (detached lazily)" ;;
        esac
    done
    umount /newroot 2>/dev/null || umount -l /newroot
    umount /repo 2>/dev/null || umount -l /repo
}

finish() {
    rc=$1
    stamp stage2-end
    # Stray processes of stage 2 would keep mounts busy.
    kill -TERM -1 2>/dev/null; sleep 0.2; kill -KILL -1 2>/dev/null
    left=$(awk '$3 == "rustaufs" {print $2}' /proc/mounts)
    for m in $(echo "$left" | sort -r); do
        [ "$MODE" = shell ] || err "rustaufs mount left after $MODE: $m"
        umount $m 2>/dev/null || umount -l $m
    done
    if grep -q '^rustaufs ' /proc/modules; then
        echo "+ rmmod rustaufs"
        rmmod rustaufs || err "rmmod rustaufs failed"
    fi
    t_rmmod=$(now)
    unmount_all
    if [ "${KMEMLEAK:-1}" = 1 ] && [ -e /sys/kernel/debug/kmemleak ]; then
        # A leak is reported by the 2nd scan that finds it unreferenced and unchanged, if
        # it is 5 s old by then: a scan takes longer than that here, but make sure.
        echo "+ kmemleak scan, twice"
        echo scan >/sys/kernel/debug/kmemleak
        stamp kmemleak-1
        sleep "$(awk -v t="$t_rmmod" -v n="$(now)" 'BEGIN {d = t + 6 - n; print (d > 0 ? d : 0)}')"
        echo scan >/sys/kernel/debug/kmemleak
        cat /sys/kernel/debug/kmemleak >/out/kmemleak
    fi
    dmesg >/out/dmesg
    [ ! -s /out/guest-errors ] || [ $rc != 0 ] || rc=1
    stamp end
    echo $rc >/out/exit-code
    sync; umount /out
    reboot -f
}

main() {
    MODE=${MODE:-check}
    rc=1
    if setup; then
        echo "rustaufs-vm: stage 2 ($MODE) at $(now) s"
        if [ "$MODE" = shell ]; then
            # A controlling tty, so that Ctrl-C and job control work in the shell.
            setsid cttyhack chroot /newroot /bin/sh $RUN/guest-init.sh stage2 shell
        else
            chroot /newroot /bin/sh $RUN/guest-init.sh stage2 "$MODE"
        fi
        rc=$?
    fi
    finish $rc
}

if [ "${1:-}" = stage2 ]; then
    stage2 "$2"
else
    main
fi
