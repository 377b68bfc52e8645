"""POSIX ACLs through the union: shown from the data object, used for permission
checks, copied by copy-up, set on the write branch (compared with overlayfs)."""

import errno
import os
import subprocess

import pytest

import util
from layers import Stack, err_of, mnt, root  # noqa: F401  (fixtures)

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"


def setfacl(*args):
    subprocess.run(["setfacl", *args], check=True)


def getfacl(path):
    out = subprocess.run(["getfacl", "-cpn", str(path)], check=True, capture_output=True, text=True)
    return out.stdout


def as_user(mnt, fn):
    """fn(rootfd) as uid/gid 1000, working from an fd of the mount."""
    rootfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return util.run_as(1000, 1000, lambda: fn(rootfd))
    finally:
        os.close(rootfd)


def append(rootfd, name):
    fd = os.open(name, os.O_WRONLY | os.O_APPEND, dir_fd=rootfd)
    try:
        os.write(fd, b"+")
    finally:
        os.close(fd)
    return "ok"


@pytest.fixture
def st(root):
    st = Stack(root, [{}, {"f": "f", "g": "g", "d/": {"x": "x"}}])
    lo = st.dirs[1]
    os.chmod(lo / "f", 0o640)
    setfacl("-m", "u:1000:rw", lo / "f")          # grants 1000 what the mode does not
    os.chmod(lo / "g", 0o666)
    setfacl("-m", "u:1000:---", lo / "g")         # denies 1000 what the mode grants
    setfacl("-d", "-m", "u:1000:rwx", lo / "d")   # a default ACL to inherit
    return st


def test_acl_shown_and_checked(st, mnt):
    lo = st.dirs[1]
    with st.mounted(mnt, ["rw", "ro"]):
        for name in ["f", "g", "d"]:
            assert getfacl(mnt / name) == getfacl(lo / name), name
        assert os.getxattr(mnt / "f", ACCESS) == os.getxattr(lo / "f", ACCESS)
        assert os.getxattr(mnt / "d", DEFAULT) == os.getxattr(lo / "d", DEFAULT)
        # The named-user entry decides, before and after copy-up.
        assert as_user(mnt, lambda fd: append(fd, "g")) == errno.EACCES
        assert as_user(mnt, lambda fd: append(fd, "f")) == "ok"
        assert as_user(mnt, lambda fd: append(fd, "f")) == "ok"
        assert (mnt / "f").read_text() == "f++"
        assert getfacl(mnt / "f") == getfacl(lo / "f")
    rw = st.dirs[0]
    # The copy carries the ACL; the lower file is unchanged.
    assert os.getxattr(rw / "f", ACCESS) == os.getxattr(lo / "f", ACCESS)
    assert (lo / "f").read_text() == "f"
    assert not (rw / "g").exists()


def test_setfacl_copies_up(st, mnt):
    lo = st.dirs[1]
    before = getfacl(lo / "g")
    with st.mounted(mnt, ["rw", "ro"]):
        setfacl("-m", "u:1000:rw", mnt / "g")
        assert as_user(mnt, lambda fd: append(fd, "g")) == "ok"
        setfacl("-b", mnt / "f")
        assert err_of(os.getxattr, mnt / "f", ACCESS) == errno.ENODATA
    rw = st.dirs[0]
    assert "user:1000:rw-" in getfacl(rw / "g")
    assert getfacl(lo / "g") == before
    assert err_of(os.getxattr, rw / "f", ACCESS) == errno.ENODATA
    assert os.getxattr(lo / "f", ACCESS)


def test_default_acl_copied_and_inherited(st, mnt):
    with st.mounted(mnt, ["rw", "ro"]):
        (mnt / "d" / "new").write_text("n")
        acl = getfacl(mnt / "d" / "new")
    rw, lo = st.dirs
    assert os.getxattr(rw / "d", DEFAULT) == os.getxattr(lo / "d", DEFAULT)
    assert "user:1000:rwx" in acl
    assert acl == getfacl(rw / "d" / "new")


def test_same_as_overlayfs(st, root, mnt):
    """The same ACL operations on overlayfs give the same getfacl output."""
    specs = [{}, {"f": "f", "g": "g", "d/": {"x": "x"}}]
    ovl = Stack(root, specs, name="o")
    lo = ovl.dirs[1]
    os.chmod(lo / "f", 0o640)
    setfacl("-m", "u:1000:rw", lo / "f")
    setfacl("-d", "-m", "u:1000:rwx", lo / "d")
    up, work, omnt = root / "up", root / "work", root / "omnt"
    for d in (up, work, omnt):
        d.mkdir()
    outs = []
    for kind in ["rustaufs", "overlay"]:
        if kind == "rustaufs":
            util.mount_union(str(mnt), st.branches(["rw", "ro"]))
            m = mnt
        else:
            util.mount_overlay(str(omnt), [str(lo)], str(up), str(work))
            m = omnt
        try:
            setfacl("-m", "g:1000:r", m / "f")
            (m / "d" / "n").write_text("n")
            os.chmod(m / "f", 0o600)
            outs.append([getfacl(m / p) for p in ["f", "d", "d/n"]])
        finally:
            util.umount(str(m))
    assert outs[0] == outs[1]


def test_mkdir_over_whiteout_like_in_place(root, mnt):
    """A directory built in the work dir (over a whiteout) gets the umask or the
    parent's default ACL exactly as one made in place."""
    st = Stack(root, [{}, {"e/": {}, "d/": {"x": "x", "e/": {}}}])
    setfacl("-d", "-m", "u:1000:rwx", st.dirs[1] / "d")
    old = os.umask(0o027)
    try:
        with st.mounted(mnt, ["rw", "ro"]):
            for parent in [mnt, mnt / "d"]:
                os.rmdir(parent / "e")
                os.mkdir(parent / "e", 0o777)
                os.mkdir(parent / "fresh", 0o777)
                assert os.path.exists(st.dirs[0] / os.path.relpath(parent, mnt) / "e" / ".wh..wh..opq")
                assert getfacl(parent / "e") == getfacl(parent / "fresh")
                assert os.stat(parent / "e").st_mode == os.stat(parent / "fresh").st_mode
            assert os.stat(mnt / "e").st_mode & 0o7777 == 0o750
            assert "user:1000:rwx" in getfacl(mnt / "d" / "e")
    finally:
        os.umask(old)
