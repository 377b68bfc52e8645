"""File handles (name_to_handle_at/open_by_handle_at): decoded after the caches are
dropped, across copy-up, stale once the name is gone; and readdir resumed from a
cookie in a new open, as an NFS server reads directories."""

import ctypes
import errno
import os
from pathlib import Path

import pytest

from layers import WH, Stack, drop_caches, getdents, list_dir, mnt, root  # noqa: F401  (fixtures)

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
MAX_HANDLE_SZ = 128


class FileHandle(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int),
                ("f_handle", ctypes.c_ubyte * MAX_HANDLE_SZ)]


def handle_of(path, fh=None):
    """The handle of `path`; `fh`, if given, is the buffer (kept for a look after an error)."""
    fh = fh or FileHandle(handle_bytes=MAX_HANDLE_SZ)
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(AT_FDCWD, os.fsencode(str(path)), ctypes.byref(fh),
                              ctypes.byref(mount_id), 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(path))
    return fh


def open_handle(mnt, fh, flags=os.O_RDONLY):
    mfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fd = libc.open_by_handle_at(mfd, ctypes.byref(fh), flags)
        if fd < 0:
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        return fd
    finally:
        os.close(mfd)


def read_handle(mnt, fh):
    fd = open_handle(mnt, fh)
    try:
        return os.fstat(fd).st_ino, os.read(fd, 100).decode()
    finally:
        os.close(fd)


LOWER = {"f": "lower f", "d/": {"x": "x", "sub/": {"y": "y"}}, "gone": "g"}


@pytest.mark.parametrize("kind", ["tmpfs", "ext4"])
def test_handles_after_drop_caches(root, mnt, fsdir, kind):
    base = fsdir(kind)
    st = Stack(None, [{"u": "upper u"}, LOWER], roots=[base, base])
    with st.mounted(mnt, ["rw", "ro"]):
        names = ["f", "u", "d/x", "d/sub/y", "d", "d/sub", "."]
        fhs = {n: handle_of(mnt / n) for n in names}
        inos = {n: os.stat(mnt / n).st_ino for n in names}
        assert all(fh.handle_bytes <= MAX_HANDLE_SZ for fh in fhs.values())
        drop_caches()
        for n in ["f", "u", "d/x", "d/sub/y"]:
            assert read_handle(mnt, fhs[n]) == (inos[n], (mnt / n).read_text()), n
        for n in ["d", "d/sub", "."]:
            fd = open_handle(mnt, fhs[n], os.O_RDONLY | os.O_DIRECTORY)
            try:
                assert os.fstat(fd).st_ino == inos[n]
            finally:
                os.close(fd)


def test_handle_across_copy_up_and_removal(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        before = handle_of(mnt / "d" / "x")
        ino = os.stat(mnt / "d" / "x").st_ino
        with open(mnt / "d" / "x", "a") as f:         # copy-up after the handle was made
            f.write("+")
        after = handle_of(mnt / "d" / "x")
        drop_caches()
        assert read_handle(mnt, before) == (ino, "x+")
        assert read_handle(mnt, after) == (ino, "x+")
        gone = handle_of(mnt / "gone")
        os.unlink(mnt / "gone")
        drop_caches()
        with pytest.raises(OSError) as e:
            read_handle(mnt, gone)
        assert e.value.errno == errno.ESTALE
        bad = handle_of(mnt / "f")
        bad.f_handle[3] ^= 0xff                        # not one of ours
        with pytest.raises(OSError) as e:
            read_handle(mnt, bad)
        assert e.value.errno == errno.ESTALE


def test_readdir_resumed_from_cookies(root, mnt):
    """Each getdents batch in a new open, resumed at the previous batch's last d_off
    (an NFS READDIR sequence): every name once, same as one listing."""
    st = Stack(root, [{f"u{i:03}": "u" for i in range(150)} | {"l007": WH},
                      {f"l{i:03}": "l" for i in range(150)}])
    with st.mounted(mnt, ["rw", "ro"]):
        whole = [(e.name, e.ino) for e in list_dir(mnt)]
        got, cookie = [], 0
        while True:
            fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.lseek(fd, cookie, os.SEEK_SET)
                batch = getdents(fd, 512)
            finally:
                os.close(fd)
            if not batch:
                break
            got += [(e.name, e.ino) for e in batch]
            cookie = batch[-1].off
        assert got == whole
        assert "l007" not in [n for n, _ in got] and len(got) == 2 + 150 + 149


def test_branch_without_handles(root, mnt):
    """A file on a branch filesystem without file handles (the VM's 9p root) has
    none through the union either: EOVERFLOW, "cannot encode", as overlayfs answers for
    such a layer, with no larger size to retry with; a file on the tmpfs write branch
    above it still has one."""
    lower = Path(__file__).resolve().parent             # on the 9p root in the VM
    with pytest.raises(OSError) as e:
        handle_of(lower / "test_export.py")
    assert e.value.errno == errno.EOPNOTSUPP             # the premise: 9p has none
    st = Stack.existing([root / "up", lower])
    (root / "up").mkdir()
    (root / "up" / "mine").write_text("mine")
    with st.mounted(mnt, ["rw", "ro"]):
        buf = FileHandle(handle_bytes=MAX_HANDLE_SZ)
        with pytest.raises(OSError) as e:
            handle_of(mnt / "test_export.py", buf)
        assert e.value.errno == errno.EOVERFLOW
        assert buf.handle_bytes <= MAX_HANDLE_SZ            # nothing bigger to retry with
        fh = handle_of(mnt / "mine")
        drop_caches()
        assert read_handle(mnt, fh)[1] == "mine"
