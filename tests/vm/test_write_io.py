"""Write-side I/O paths: O_TMPFILE, shared writable mmap of a lower file, and
set-id bits dropped by a write, each checked on the branches (and against overlayfs
where the semantics match)."""

import ctypes
import errno
import mmap
import os
import subprocess
from pathlib import Path

import pytest

import util
from layers import Stack, err_of, mnt, root  # noqa: F401  (fixtures)

LOWER = {"f": "lower f", "d/": {"x": "x"}}
O_TMPFILE = getattr(os, "O_TMPFILE", 0o20200000)
AT_SYMLINK_FOLLOW = 0x400
SYS_linkat = 265
libc = ctypes.CDLL(None, use_errno=True)


@pytest.fixture
def st(root):
    return Stack(root, [{}, LOWER])


def link_fd(fd, path):
    """linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, path, AT_SYMLINK_FOLLOW), as open(2)
    shows for O_TMPFILE (Python's os.link calls link(2), which does not follow)."""
    ret, err = util._syscall(SYS_linkat, util.AT_FDCWD, util._cstr(f"/proc/self/fd/{fd}"),
                             util.AT_FDCWD, util._cstr(str(path)), AT_SYMLINK_FOLLOW)
    if ret < 0:
        raise OSError(err, os.strerror(err), str(path))


def test_tmpfile_link(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        fd = os.open(mnt / "d", O_TMPFILE | os.O_RDWR, 0o640)
        try:
            os.write(fd, b"tmp data")
            assert os.fstat(fd).st_nlink == 0
            assert sorted(os.listdir(mnt / "d")) == ["x"]
            link_fd(fd, mnt / "d" / "named")
            st1 = os.fstat(fd)
            assert st1.st_nlink == 1
            assert os.stat(mnt / "d" / "named").st_ino == st1.st_ino
            os.write(fd, b"+")
        finally:
            os.close(fd)
        assert (mnt / "d" / "named").read_text() == "tmp data+"
        assert os.stat(mnt / "d" / "named").st_mode & 0o777 == 0o640
    rw, lo = st.dirs
    # The parent was copied up to hold it; nothing else is left behind.
    assert (rw / "d" / "named").read_text() == "tmp data+"
    assert not (lo / "d" / "named").exists()
    assert os.listdir(rw / ".wh..wh.orph") == []


def test_tmpfile_unlinked_leaves_nothing(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        fd = os.open(mnt, O_TMPFILE | os.O_WRONLY, 0o600)
        os.write(fd, b"x" * 10000)
        os.close(fd)
        assert sorted(os.listdir(mnt)) == ["d", "f"]
    rw, _ = st.dirs
    assert sorted(n for n in os.listdir(rw) if not n.startswith(".wh.")) == []


def test_tmpfile_excl_cannot_be_linked(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        fd = os.open(mnt, O_TMPFILE | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            assert err_of(link_fd, fd, mnt / "n") == errno.ENOENT
        finally:
            os.close(fd)


def test_tmpfile_read_only_union(st, mnt):
    with st.mounted(mnt, ["ro", "ro"]):
        assert err_of(os.open, mnt, O_TMPFILE | os.O_RDWR, 0o600) == errno.EROFS


def shared_map_write(path, data, offset=0):
    fd = os.open(path, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        with mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
            m[offset:offset + len(data)] = data
            m.flush()
    finally:
        os.close(fd)


def test_shared_writable_mmap_copies_up(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        reader = os.open(mnt / "f", os.O_RDONLY)
        try:
            shared_map_write(mnt / "f", b"L")
            assert (mnt / "f").read_text() == "Lower f"
            # An fd opened before the copy-up reads the copy.
            assert os.pread(reader, 100, 0) == b"Lower f"
        finally:
            os.close(reader)
    rw, lo = st.dirs
    assert (rw / "f").read_text() == "Lower f"
    assert (lo / "f").read_text() == "lower f"


def test_shared_readonly_mmap_no_copy_up(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        fd = os.open(mnt / "f", os.O_RDWR)
        try:
            with mmap.mmap(fd, 7, mmap.MAP_SHARED, mmap.PROT_READ) as m:
                assert m[:] == b"lower f"
        finally:
            os.close(fd)
    rw, _ = st.dirs
    assert not (rw / "f").exists()


def test_shared_mmap_copy_up_enospc(root, mnt):
    """The copy-up queued by mmap fails: mmap(2) returns that error (no restart loop)
    and the union still shows the lower file."""
    small = root / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        lo = root / "lo"
        lo.mkdir()
        (lo / "big").write_bytes(b"b" * (1 << 20))
        util.mount_union(str(mnt), [(str(small), "rw"), (str(lo), "ro")])
        try:
            assert err_of(shared_map_write, mnt / "big", b"X") == errno.ENOSPC
            with open(mnt / "big", "rb") as f:
                assert f.read(4) == b"bbbb"
            assert not (small / "big").exists()
            assert os.listdir(small / ".wh..wh.orph") == []
        finally:
            util.umount(str(mnt))
    finally:
        subprocess.run(["umount", str(small)], check=True)


def suid_after_write(mnt, how):
    """Mode bits of `mnt/s` after user 1000 changes it with `how` (working from an fd
    of the mount, so the private dirs above it need no permission)."""
    rootfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)

    def write():
        fd = os.open("s", os.O_WRONLY, dir_fd=rootfd)
        try:
            if how == "write":
                os.write(fd, b"!")
            else:
                os.posix_fallocate(fd, 0, 8192)
        finally:
            os.close(fd)
    try:
        assert util.run_as(1000, 1000, write) is None
    finally:
        os.close(rootfd)
    return os.stat(mnt / "s").st_mode & 0o7777


@pytest.mark.parametrize("how", ["write", "fallocate"])
def test_write_drops_setid_bits(root, mnt, how):
    """A write by a user who is not the owner clears S_ISUID and S_ISGID of a
    group-executable file, as on the branch itself and on overlayfs: copy-up never
    leaves a writable set-id file."""
    st = Stack(root, [{}, {"s": "#!/bin/sh\n"}])
    os.chmod(st.dirs[1] / "s", 0o6777)
    with st.mounted(mnt, ["rw", "ro"]):
        got = suid_after_write(mnt, how)
    upper, work = root / "up", root / "work"
    upper.mkdir()
    work.mkdir()
    ovl = root / "ovl"
    ovl.mkdir()
    os.chmod(st.ovl_dirs[1] / "s", 0o6777)
    util.mount_overlay(str(ovl), [str(d) for d in st.ovl_dirs], str(upper), str(work))
    try:
        want = suid_after_write(ovl, how)
    finally:
        util.umount(str(ovl))
    assert want == 0o777
    assert got == want
    assert os.stat(st.dirs[0] / "s").st_mode & 0o7777 == 0o777
    assert os.stat(st.dirs[1] / "s").st_mode & 0o7777 == 0o6777


def sectors_written(path):
    dev = os.stat(path).st_dev
    with open(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat") as f:
        return int(f.read().split()[6])


def test_syncfs_writes_back_the_write_branch(fsdir, mnt):
    """syncfs(2) on the union writes the write branch's dirty data to its disk."""
    base = Path(fsdir("ext4"))
    (base / "rw").mkdir()
    (base / "lo").mkdir()
    knob = Path("/proc/sys/vm/dirty_writeback_centisecs")
    saved = knob.read_text()
    knob.write_text("0")                 # no periodic writeback during the test
    try:
        os.sync()
        util.mount_union(str(mnt), [(str(base / "rw"), "rw"), (str(base / "lo"), "ro")])
        try:
            (mnt / "big").write_bytes(b"s" * (8 << 20))
            before = sectors_written(base)
            fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
            try:
                assert libc.syncfs(fd) == 0
            finally:
                os.close(fd)
            assert (sectors_written(base) - before) * 512 >= 8 << 20
        finally:
            util.umount(str(mnt))
    finally:
        knob.write_text(saved)
