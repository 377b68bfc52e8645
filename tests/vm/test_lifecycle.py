"""Lifecycle: umount after heavy use, busy and lazy umount, module pinning, drop_caches,
mount cycles, concurrent readers. The last test unloads and reloads the module."""

import contextlib
import errno
import mmap
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest

import util
from layers import (MNT_DETACH, MS_BIND, Kmsg, Stack, bad_kmsg, delete_module, drop_caches,
                    own_fs, proc_mount, sb_sysfs, snapshot, sys_mount, sys_umount, wait_gone,
                    wait_live_zero)
from layers import mnt, mnt2, root  # noqa: F401 (fixtures)


def module_loaded() -> bool:
    with open("/proc/modules") as f:
        return any(line.split()[0] == "rustaufs" for line in f)


def fs_registered() -> bool:
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == "rustaufs" for line in f if line.strip())


def assert_released():
    live = wait_live_zero()
    assert not any(live.values()), live


def cleanup(mnt):
    """For tests that unmount by hand: detach whatever is left at mnt after a failure."""
    while proc_mount(mnt) is not None and proc_mount(mnt)[2] == "rustaufs":
        if sys_umount(mnt, MNT_DETACH) != 0:
            break


def tree_specs(n_files: int, n_branches: int = 3) -> list[dict]:
    """n_files files in 20 dirs, spread over the branches; every dir on every branch."""
    specs = [{} for _ in range(n_branches)]
    for i in range(n_files):
        d = f"d{i % 20:02d}/"
        for s in specs:
            s.setdefault(d, {})
        specs[i % n_branches][d][f"f{i:04d}"] = f"file {i}\n"
    return specs


# --- heavy use, then everything can be unmounted --------------------------------------------------


@contextlib.contextmanager
def fs_stack(scratch, kinds):
    """A filesystem of its own for each kind (own_fs): yields their mount points."""
    with contextlib.ExitStack() as stack:
        roots = []
        for i, kind in enumerate(kinds):
            where = Path(scratch) / f"fs{i}"
            where.mkdir()
            roots.append(stack.enter_context(own_fs(where, kind)))
        yield roots


@pytest.mark.parametrize("kinds", [["tmpfs"] * 3, ["tmpfs", "ext4", "xfs"]],
                         ids=["tmpfs", "mixed"])
def test_heavy_use_then_umount_all(scratch, mnt, kinds):
    kmsg = Kmsg()
    try:
        with fs_stack(scratch, kinds) as fss:
            st = Stack(None, tree_specs(2000), roots=fss)
            sysfs = [sb_sysfs(fs, k) for fs, k in zip(fss, kinds)]
            assert all(p is None or p.is_dir() for p in sysfs), sysfs
            util.mount_union(str(mnt), st.branches())
            try:
                n = 0
                for dirpath, dirnames, filenames in os.walk(mnt):
                    assert len(os.listdir(dirpath)) == len(dirnames) + len(filenames)
                    for name in filenames:
                        p = os.path.join(dirpath, name)
                        os.stat(p)
                        with open(p, "rb") as f:
                            assert f.read() == f"file {int(name[1:])}\n".encode()
                        n += 1
                assert n == 2000
                rc = sys_umount(mnt)
                assert rc == 0, os.strerror(rc)
            finally:
                cleanup(mnt)
            assert_released()
            for fs, sfs in zip(fss, sysfs):
                assert sys_umount(fs) == 0, fs  # no branch left busy
                if sfs is not None:
                    assert wait_gone(sfs), f"{sfs}: the branch superblock is still alive"
        assert bad_kmsg(kmsg.lines()) == []
    finally:
        kmsg.close()


# --- busy and lazy umount -------------------------------------------------------------------------

SMALL = [{"f": "top file", "d/": {"x": "0"}}, {"g": "lower file" * 1000, "d/": {"y": "1"}}]


def _hold(kind, mnt):
    """Make mnt busy in one way; returns a function that releases it."""
    if kind == "file":
        fd = os.open(mnt / "g", os.O_RDONLY)
        return lambda: os.close(fd)
    if kind == "dir":
        fd = os.open(mnt / "d", os.O_RDONLY | os.O_DIRECTORY)
        return lambda: os.close(fd)
    if kind == "cwd":
        old = os.getcwd()
        os.chdir(mnt / "d")
        return lambda: os.chdir(old)
    if kind == "mmap":
        with open(mnt / "g", "rb") as f:
            m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        return m.close
    raise ValueError(kind)


@pytest.mark.parametrize("holder", ["file", "dir", "cwd", "mmap"])
def test_umount_busy(root, mnt, holder):
    st = Stack(root, SMALL)
    util.mount_union(str(mnt), st.branches())
    try:
        release = _hold(holder, mnt)
        try:
            assert sys_umount(mnt) == errno.EBUSY
            assert (mnt / "f").read_text() == "top file"  # still mounted and working
            assert proc_mount(mnt)[2] == "rustaufs"
        finally:
            release()
        assert sys_umount(mnt) == 0
        assert proc_mount(mnt) is None
        assert_released()
    finally:
        cleanup(mnt)


def test_lazy_umount_with_open_fd(scratch, mnt):
    with fs_stack(scratch, ["tmpfs", "tmpfs"]) as fss:
        st = Stack(None, SMALL, roots=fss)
        util.mount_union(str(mnt), st.branches())
        fd = os.open(mnt / "g", os.O_RDONLY)
        dfd = os.open(mnt / "d", os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert sys_umount(mnt, MNT_DETACH) == 0
            assert proc_mount(mnt) is None
            # Still usable through what is open.
            assert os.pread(fd, 10, 0) == b"lower file"
            assert sorted(os.listdir(dfd)) == ["x", "y"]
            sub = os.open("y", os.O_RDONLY, dir_fd=dfd)
            assert os.read(sub, 10) == b"1"
            os.close(sub)
        finally:
            os.close(fd)
            os.close(dfd)
            cleanup(mnt)
        assert_released()
        for fs in fss:
            assert sys_umount(fs) == 0


# --- module pinning -------------------------------------------------------------------------------

needs_module = pytest.mark.skipif(not os.path.exists("/proc/modules") or not module_loaded(),
                                  reason="rustaufs is not a loaded module")


@needs_module
@pytest.mark.parametrize("state", ["mounted", "lazily unmounted, fd open"])
def test_rmmod_while_in_use_fails(root, mnt, state):
    st = Stack(root, SMALL)
    util.mount_union(str(mnt), st.branches())
    fd = os.open(mnt / "f", os.O_RDONLY)
    try:
        if state != "mounted":
            assert sys_umount(mnt, MNT_DETACH) == 0
        assert delete_module("rustaufs") in (errno.EBUSY, errno.EWOULDBLOCK)
        r = subprocess.run(["rmmod", "rustaufs"], capture_output=True)
        assert r.returncode != 0
        assert module_loaded()
        assert os.pread(fd, 8, 0) == b"top file"
    finally:
        os.close(fd)
        if state == "mounted":
            assert sys_umount(mnt) == 0
        cleanup(mnt)
    assert_released()


# --- caches ---------------------------------------------------------------------------------------


def test_drop_caches_keeps_view(root, mnt):
    st = Stack(root, tree_specs(300) + [{"top@": "d00/f0000", "d05/": {"f0005": "hidden"}}])
    with st.mounted(mnt):
        before = snapshot(mnt, with_ino=True)
        root_ino = os.stat(mnt).st_ino
        fd = os.open(mnt / "d05" / "f0005", os.O_RDONLY)
        try:
            drop_caches()
            assert snapshot(mnt, with_ino=True) == before
            drop_caches()
            assert os.stat(mnt).st_ino == root_ino
            assert os.read(fd, 100) == b"file 5\n"
            assert os.fstat(fd).st_ino == before["d05/f0005"][2]
        finally:
            os.close(fd)
        drop_caches()
        assert snapshot(mnt, with_ino=True) == before


def test_mount_cycles(root, mnt):
    st = Stack(root, SMALL)
    for i in range(50):
        if i % 2:
            res = util.fsmount(st.br(), target=str(mnt))
            assert res.errno == 0, (i, res.messages)
        else:
            util.mount_union(str(mnt), st.branches())
        try:
            assert (mnt / "d" / "y").read_text() == "1"
            assert sorted(os.listdir(mnt)) == ["d", "f", "g"]
        finally:
            assert sys_umount(mnt) == 0, i
    assert proc_mount(mnt) is None
    assert_released()


def test_two_unions_share_branches(root, mnt, mnt2):
    st = Stack(root, SMALL)
    util.mount_union(str(mnt), st.branches(["ro", "ro"]))
    try:
        util.mount_union(str(mnt2), st.branches(["ro", "ro"]))
        try:
            assert os.stat(mnt).st_dev != os.stat(mnt2).st_dev
            assert (mnt2 / "f").read_text() == (mnt / "f").read_text() == "top file"
            assert sys_umount(mnt) == 0
            assert sorted(os.listdir(mnt2 / "d")) == ["x", "y"]
        finally:
            assert sys_umount(mnt2) == 0
    finally:
        cleanup(mnt)
        cleanup(mnt2)
    assert_released()


def test_bind_mount_outlives_original(root, mnt, mnt2):
    st = Stack(root, SMALL)
    util.mount_union(str(mnt), st.branches())
    try:
        assert sys_mount(str(mnt), mnt2, "", MS_BIND) == 0
        assert sys_umount(mnt) == 0
        assert (mnt2 / "d" / "x").read_text() == "0"
        assert proc_mount(mnt2)[2] == "rustaufs"
        assert sys_umount(mnt2) == 0
    finally:
        cleanup(mnt)
        cleanup(mnt2)
    assert_released()


# --- concurrency ----------------------------------------------------------------------------------


def test_concurrent_readers_and_drop_caches(root, mnt):
    st = Stack(root, tree_specs(400) + [{"d03/": {"f0003": "shadowed", "only": "low"}}])
    with st.mounted(mnt):
        want = snapshot(mnt, with_ino=True)
        dirs = sorted(["."] + [p for p, v in want.items() if v[0] == "d"])
        files = sorted(p for p, v in want.items() if v[0] == "f")
        listings = {d: sorted(os.listdir(mnt / d)) for d in dirs}
        stop = threading.Event()
        errors = []
        counts = [0] * 4

        def reader(k):
            rnd = random.Random(k)
            try:
                while not stop.is_set():
                    d = rnd.choice(dirs)
                    got = sorted(os.listdir(mnt / d))
                    if got != listings[d]:
                        errors.append(("listdir", d, got))
                    for p in rnd.sample(files, 5):
                        with open(mnt / p, "rb") as f:
                            data = f.read()
                        ino = os.lstat(mnt / p).st_ino
                        if (data, ino) != (want[p][1], want[p][2]):
                            errors.append(("file", p, data, ino))
                    counts[k] += 1
            except Exception as e:  # noqa: BLE001 -- reported below
                errors.append(("exception", k, repr(e)))

        def dropper():
            try:
                while not stop.is_set():
                    drop_caches()
                    time.sleep(0.05)
            except Exception as e:  # noqa: BLE001
                errors.append(("dropper", repr(e)))

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(4)]
        threads.append(threading.Thread(target=dropper))
        for t in threads:
            t.start()
        time.sleep(3)
        stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert errors == []
        assert all(c > 0 for c in counts), counts
        assert snapshot(mnt, with_ino=True) == want


# --- unload and reload: keep this test last ---------------------------------------------------------


def _ko_path() -> Path:
    return Path(os.environ.get("RUSTAUFS_KO") or Path(__file__).parents[2] / "rustaufs.ko")


@needs_module
def test_zz_rmmod_and_reload(root, mnt):
    ko = _ko_path()
    if not ko.exists():
        pytest.skip(f"no {ko} to reload the module from")
    assert util.rustaufs_mounts() == []
    pdir = Path("/sys/module/rustaufs/parameters")
    params = []
    if pdir.is_dir():
        for p in sorted(pdir.iterdir()):
            try:
                value = p.read_text().strip()
            except OSError:
                continue
            if value != "(null)":
                params.append(f"{p.name}={value}")
    r = subprocess.run(["rmmod", "rustaufs"], capture_output=True, text=True)
    try:
        assert r.returncode == 0, r.stderr
        assert not module_loaded()
        assert not fs_registered()
    finally:
        if not module_loaded():
            r2 = subprocess.run(["insmod", str(ko)] + params, capture_output=True, text=True)
            assert r2.returncode == 0, r2.stderr
    assert module_loaded() and fs_registered()
    st = Stack(root, SMALL)
    with st.mounted(mnt):
        assert (mnt / "d" / "y").read_text() == "1"
    assert_released()
