"""Permissions as a non-root user, and the owner/mode/times the union shows."""

import errno
import os
import stat
import subprocess

import pytest

import util
from layers import Stack
from layers import mnt, root  # noqa: F401 (fixtures)

USER = (1000, 1000)


def as_user(mnt, op, *args, ids=USER):
    """Run op(rootfd, *args) as uid/gid `ids`; rootfd is the union root opened by root.

    The child works relative to rootfd, so the directories above the mount point (under
    pytest's private temp dir) need no permission. Returns op's result, or the errno of the
    OSError it raised (util.run_as): ops never return ints.
    """
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return util.run_as(ids[0], ids[1], lambda: op(fd, *args))
    finally:
        os.close(fd)


def read(rootfd, name):
    fd = os.open(name, os.O_RDONLY, dir_fd=rootfd)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


def listdir(rootfd, name):
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=rootfd)
    try:
        return sorted(os.listdir(fd))
    finally:
        os.close(fd)


def lookup(rootfd, name):
    return ("size", os.stat(name, dir_fd=rootfd, follow_symlinks=False).st_size)


def access(rootfd, name, mode):
    return ("access", os.access(name, mode, dir_fd=rootfd))


def chmod(path, mode, uid=0, gid=0):
    os.chown(path, uid, gid)
    os.chmod(path, mode)


# --- files ----------------------------------------------------------------------------------------


def test_file_modes(root, mnt):
    st = Stack(root, [{"top": "t"}, {"secret": "s", "public": "p", "none": "n"}])
    low = st.dirs[1]
    chmod(low / "secret", 0o600)
    chmod(low / "public", 0o644)
    chmod(low / "none", 0o000)
    with st.mounted(mnt):
        assert as_user(mnt, read, "secret") == errno.EACCES
        assert as_user(mnt, read, "public") == b"p"
        assert as_user(mnt, read, "none") == errno.EACCES
        assert as_user(mnt, lookup, "secret") == ("size", 1)  # stat needs no read permission
        assert as_user(mnt, access, "secret", os.R_OK) == ("access", False)
        assert as_user(mnt, access, "public", os.R_OK) == ("access", True)
        # root: CAP_DAC_OVERRIDE
        assert (mnt / "none").read_text() == "n"
        assert (mnt / "secret").read_text() == "s"


def test_file_owner_and_group(root, mnt):
    st = Stack(root, [{"mine": "m", "group": "g"}, {}])
    top = st.dirs[0]
    chmod(top / "mine", 0o600, 1000, 1000)
    chmod(top / "group", 0o640, 0, 1000)
    with st.mounted(mnt):
        assert as_user(mnt, read, "mine") == b"m"
        assert as_user(mnt, read, "mine", ids=(1001, 1001)) == errno.EACCES
        assert as_user(mnt, read, "group", ids=(1001, 1000)) == b"g"
        assert as_user(mnt, read, "group", ids=(1001, 1001)) == errno.EACCES


@pytest.mark.parametrize("top_mode,low_mode,want", [(0o600, 0o644, errno.EACCES),
                                                     (0o644, 0o600, b"top")])
def test_topmost_file_mode_decides(root, mnt, top_mode, low_mode, want):
    st = Stack(root, [{"f": "top"}, {"f": "low"}])
    chmod(st.dirs[0] / "f", top_mode)
    chmod(st.dirs[1] / "f", low_mode)
    with st.mounted(mnt):
        assert as_user(mnt, read, "f") == want


# --- directories ----------------------------------------------------------------------------------


@pytest.mark.parametrize("merged", [False, True])
def test_dir_0700(root, mnt, merged):
    st = Stack(root, [{"priv/": {"f": "top"}} if merged else {}, {"priv/": {"f": "low", "g": "g"}}])
    for d in st.dirs:
        if (d / "priv").exists():
            chmod(d / "priv", 0o700 if d == st.dirs[0] or not merged else 0o755)
    with st.mounted(mnt):
        assert as_user(mnt, listdir, "priv") == errno.EACCES
        assert as_user(mnt, lookup, "priv/f") == errno.EACCES
        assert as_user(mnt, read, "priv/f") == errno.EACCES
        assert as_user(mnt, lookup, "priv/nothing") == errno.EACCES
        assert as_user(mnt, lookup, "priv") == ("size", os.stat(mnt / "priv").st_size)
        assert sorted(os.listdir(mnt / "priv")) == ["f", "g"]  # root may


@pytest.mark.parametrize("merged", [False, True])
def test_dir_0711(root, mnt, merged):
    st = Stack(root, [{"x/": {"f": "top"}} if merged else {}, {"x/": {"f": "low", "g": "g"}}])
    for d in st.dirs:
        if (d / "x").exists():
            chmod(d / "x", 0o711 if d == st.dirs[0] or not merged else 0o755)
    with st.mounted(mnt):
        assert as_user(mnt, listdir, "x") == errno.EACCES
        assert as_user(mnt, read, "x/f") == (b"top" if merged else b"low")
        assert as_user(mnt, read, "x/g") == b"g"
        assert as_user(mnt, lookup, "x/g") == ("size", 1)
        assert as_user(mnt, lookup, "x/nothing") == errno.ENOENT


def test_dir_owned_by_user(root, mnt):
    st = Stack(root, [{"home/": {"a": "0"}}, {"home/": {"b": "1"}}])
    chmod(st.dirs[0] / "home", 0o700, 1000, 1000)
    chmod(st.dirs[1] / "home", 0o755)
    with st.mounted(mnt):
        assert as_user(mnt, listdir, "home") == ["a", "b"]
        assert as_user(mnt, read, "home/b") == b"1"
        assert as_user(mnt, listdir, "home", ids=(1001, 1001)) == errno.EACCES


def test_root_dir_mode_from_top_branch(root, mnt):
    st = Stack(root, [{"a": "0"}, {"b": "1"}])
    chmod(st.dirs[0], 0o751, 1000, 1000)
    chmod(st.dirs[1], 0o755)
    with st.mounted(mnt):
        s = os.stat(mnt)
        assert (stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid) == (0o751, 1000, 1000)
        assert as_user(mnt, listdir, ".") == ["a", "b"]
        assert as_user(mnt, listdir, ".", ids=(1001, 1001)) == errno.EACCES
        assert as_user(mnt, read, "b", ids=(1001, 1001)) == b"1"


# --- attributes shown -----------------------------------------------------------------------------

ATTR_FIELDS = ["st_mode", "st_uid", "st_gid", "st_size", "st_mtime_ns", "st_ctime_ns",
               "st_atime_ns", "st_rdev"]


def attrs(s):
    """The attributes a union shows as they are on the branch (not st_nlink: a merged dir may
    count its links over the branches)."""
    out = {f: getattr(s, f) for f in ATTR_FIELDS}
    if not stat.S_ISDIR(s.st_mode):
        out["st_nlink"] = s.st_nlink
    return out


def test_attrs_of_topmost_file(root, mnt):
    st = Stack(root, [{}, {"f": "middle!", "d/": {}, "l@": "f"}, {"f": "bottom", "d/": {}}])
    mid = st.dirs[1]
    chmod(mid / "f", 0o640, 1234, 5678)
    os.utime(mid / "f", ns=(1_000_000_123, 2_000_000_456))
    chmod(mid / "d", 0o750, 4321, 8765)
    os.utime(mid / "d", ns=(3_000_000_000, 4_000_000_789))
    os.lchown(mid / "l", 1111, 2222)
    os.utime(mid / "l", ns=(5_000_000_000, 6_000_000_000), follow_symlinks=False)
    chmod(st.dirs[2] / "f", 0o777, 1, 1)
    with st.mounted(mnt):
        for name in ["f", "d", "l"]:
            got = attrs(os.lstat(mnt / name))
            want = attrs(os.lstat(mid / name))
            assert got == want, name
        assert os.stat(mnt / "f").st_mtime_ns == 2_000_000_456


def test_merged_dir_shows_topmost_dir(root, mnt):
    st = Stack(root, [{"d/": {"a": "0"}}, {"d/": {"b": "1"}}, {"d/": {"c": "2"}}])
    chmod(st.dirs[0] / "d", 0o705, 1000, 2000)
    os.utime(st.dirs[0] / "d", ns=(7_000_000_000, 8_000_000_000))
    chmod(st.dirs[1] / "d", 0o777, 3000, 4000)
    os.utime(st.dirs[1] / "d", ns=(9_000_000_000, 9_500_000_000))
    chmod(st.dirs[2] / "d", 0o700)
    with st.mounted(mnt):
        s = os.stat(mnt / "d")
        t = os.stat(st.dirs[0] / "d")
        assert (s.st_mode, s.st_uid, s.st_gid, s.st_mtime_ns, s.st_ctime_ns) == \
            (t.st_mode, t.st_uid, t.st_gid, t.st_mtime_ns, t.st_ctime_ns)
        assert stat.S_IMODE(s.st_mode) == 0o705


# --- exec -----------------------------------------------------------------------------------------


def test_exec_from_lower_branch(root, mnt):
    script = "#!/bin/sh\necho run from the union\n"
    st = Stack(root, [{}, {"prog": script, "noexec": script, "rootonly": script}])
    chmod(st.dirs[1] / "prog", 0o755)
    chmod(st.dirs[1] / "noexec", 0o644)
    chmod(st.dirs[1] / "rootonly", 0o700)
    with st.mounted(mnt):
        out = subprocess.run([str(mnt / "prog")], capture_output=True, text=True, check=True)
        assert out.stdout == "run from the union\n"
        with pytest.raises(PermissionError):
            subprocess.run([str(mnt / "noexec")])

        def run(rootfd, name):
            return ("access", os.access(name, os.X_OK, dir_fd=rootfd))
        assert as_user(mnt, run, "prog") == ("access", True)
        assert as_user(mnt, run, "rootonly") == ("access", False)
        assert as_user(mnt, run, "noexec") == ("access", False)
