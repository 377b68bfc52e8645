"""Write-side basics: where each change lands on the branches (rustaufs-specific)."""

import errno
import os

import pytest

from layers import Stack, err_of, mnt, root  # noqa: F401  (fixtures)

LOWER = {"f": "lower f", "g": "lower g", "d/": {"x": "x", "sub/": {"y": "y"}}, "e/": {}}


@pytest.fixture
def st(root):
    return Stack(root, [{}, LOWER])


def test_write_copies_up(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        with open(mnt / "f", "a") as f:
            f.write("+")
        assert (mnt / "f").read_text() == "lower f+"
        os.chmod(mnt / "d" / "x", 0o600)
        assert os.stat(mnt / "d" / "x").st_mode & 0o777 == 0o600
    rw, lo = st.dirs
    assert (rw / "f").read_text() == "lower f+"
    assert (lo / "f").read_text() == "lower f"
    assert (rw / "d" / "x").read_text() == "x"
    assert os.stat(rw / "d" / "x").st_mode & 0o777 == 0o600
    assert os.listdir(rw / ".wh..wh.orph") == []


def test_create_unlink_whiteout(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        (mnt / "new").write_text("n")
        os.unlink(mnt / "f")
        assert not (mnt / "f").exists()
        assert "f" not in os.listdir(mnt)
        assert sorted(os.listdir(mnt)) == ["d", "e", "g", "new"]
        assert err_of(os.unlink, mnt / "f") == errno.ENOENT
        (mnt / "f").write_text("again")
        assert (mnt / "f").read_text() == "again"
        os.unlink(mnt / "new")
    rw, lo = st.dirs
    assert not (rw / "new").exists() and not (rw / ".wh.new").exists()
    assert (rw / "f").read_text() == "again"
    assert not (rw / ".wh.f").exists()


def test_rmdir_mkdir_opaque(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        assert err_of(os.rmdir, mnt / "d") == errno.ENOTEMPTY
        os.rmdir(mnt / "e")
        assert not (mnt / "e").exists()
        os.mkdir(mnt / "e")
        assert os.listdir(mnt / "e") == []
        os.unlink(mnt / "d" / "sub" / "y")
        os.rmdir(mnt / "d" / "sub")
        os.mkdir(mnt / "d" / "sub")
        assert os.listdir(mnt / "d" / "sub") == []
    rw, lo = st.dirs
    assert (rw / "e" / ".wh..wh..opq").exists()
    assert (rw / "d" / "sub" / ".wh..wh..opq").exists()
    assert (lo / "d" / "sub" / "y").exists()


def test_rename_file_leaves_whiteout(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        os.rename(mnt / "g", mnt / "d" / "g2")
        assert not (mnt / "g").exists()
        assert (mnt / "d" / "g2").read_text() == "lower g"
        assert err_of(os.rename, mnt / "d", mnt / "d3") == errno.EXDEV
        os.mkdir(mnt / "n")
        (mnt / "n" / "z").write_text("z")
        os.rename(mnt / "n", mnt / "n2")
        assert (mnt / "n2" / "z").read_text() == "z"
    rw, lo = st.dirs
    assert (rw / ".wh.g").exists()
    assert (rw / "d" / "g2").read_text() == "lower g"


def test_link_symlink_mknod(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        os.link(mnt / "f", mnt / "f2")
        assert os.stat(mnt / "f2").st_ino == os.stat(mnt / "f").st_ino
        assert os.stat(mnt / "f").st_nlink == 2
        os.symlink("f", mnt / "l")
        assert (mnt / "l").read_text() == "lower f"
        os.mkfifo(mnt / "p")
        assert err_of(os.mkdir, mnt / ".wh.x") == errno.EPERM
    rw, _ = st.dirs
    assert os.readlink(rw / "l") == "f"


def test_fd_before_copyup_sees_new_data(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        r = os.open(mnt / "f", os.O_RDONLY)
        try:
            with open(mnt / "f", "w") as w:
                w.write("new contents")
            assert os.pread(r, 100, 0) == b"new contents"
            assert os.fstat(r).st_size == len("new contents")
        finally:
            os.close(r)


def test_open_rdwr_does_not_copy_up(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        fd = os.open(mnt / "f", os.O_RDWR)
        os.close(fd)
    assert not (st.dirs[0] / "f").exists()


def lock_conflict(path, start, length):
    """In another process: F_GETLK for a write lock on the range -> (type, pid), and
    whether F_SETLK of it fails with EAGAIN/EACCES."""
    import fcntl
    import struct
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(path, os.O_RDWR)
            flock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
            got = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, flock))
            try:
                fcntl.fcntl(fd, fcntl.F_SETLK, flock)
                refused = 0
            except OSError as e:
                refused = e.errno
            os.write(w, struct.pack("hii", got[0], got[4], refused))
        finally:
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    os.waitpid(pid, 0)
    return struct.unpack("hii", data)


def test_posix_lock_survives_copy_up(st, mnt):
    """seeds 001: a F_SETLK lock taken through an fd opened before the copy-up still
    excludes other processes afterwards (locks are on the union inode)."""
    import fcntl
    with st.mounted(mnt, ["rw", "ro"]):
        fd = os.open(mnt / "f", os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 4, 0)
            assert not (st.dirs[0] / "f").exists()
            assert lock_conflict(mnt / "f", 0, 4) == (fcntl.F_WRLCK, os.getpid(), errno.EAGAIN)
            # Copy-up by another process (a close here would drop our locks).
            pid = os.fork()
            if pid == 0:
                try:
                    w = os.open(mnt / "f", os.O_WRONLY)
                    os.write(w, b"X")
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
            assert (st.dirs[0] / "f").read_text() == "Xower f"
            assert lock_conflict(mnt / "f", 0, 4) == (fcntl.F_WRLCK, os.getpid(), errno.EAGAIN)
            assert lock_conflict(mnt / "f", 4, 4)[2] == 0           # the rest is free
            os.write(fd, b"Y")                  # the locked fd writes to the copy
            fcntl.lockf(fd, fcntl.LOCK_UN, 4, 0)
            assert lock_conflict(mnt / "f", 0, 4)[2] == 0
            assert (mnt / "f").read_text() == "Yower f"
        finally:
            os.close(fd)
