"""Inode numbers from the xino table: stable across copy-up and eviction, equal in
readdir and stat, the table invisible, xino=/noxino, and a full table filesystem."""

import errno
import os
import subprocess

import pytest

import util
from layers import Kmsg, Stack, drop_caches, err_of, list_dir, mnt, mnt2, proc_mount, root  # noqa: F401

LOWER = {"f": "f", "g": "g", "d/": {"x": "x", "sub/": {"y": "y"}}, "s@": "f"}


def inos(mnt):
    out = {}
    for dirpath, dirs, files in os.walk(mnt):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, mnt)] = os.lstat(p).st_ino
    return out


def test_numbers_survive_copy_up_and_eviction(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        assert os.stat(mnt).st_ino == 2
        before = inos(mnt)
        assert len(set(before.values())) == len(before)
        assert min(before.values()) >= 11
        with open(mnt / "f", "a") as f:               # copy-up, inode cached
            f.write("+")
        os.chmod(mnt / "d" / "sub" / "y", 0o600)      # copy-up with parents
        os.lchown(mnt / "s", 1, 1)                    # a symlink
        assert inos(mnt) == before
        drop_caches()
        assert inos(mnt) == before                    # looked up afresh: the copies
        os.rename(mnt / "g", mnt / "g2")              # rename keeps the number
        assert os.lstat(mnt / "g2").st_ino == before["g"]
    assert (st.dirs[0] / "f").exists() and (st.dirs[0] / "d" / "sub" / "y").exists()


def test_readdir_matches_stat_after_copy_up(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        first = {e.name: e.ino for e in list_dir(mnt) if e.name not in (".", "..")}
        (mnt / "f").write_text("new")
        drop_caches()
        again = {e.name: e.ino for e in list_dir(mnt) if e.name not in (".", "..")}
        assert again == first
        assert all(os.lstat(mnt / n).st_ino == i for n, i in first.items())


def test_new_files_get_new_numbers(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        before = set(inos(mnt).values())
        (mnt / "n1").write_text("1")
        os.mkdir(mnt / "n2")
        n1, n2 = os.stat(mnt / "n1").st_ino, os.stat(mnt / "n2").st_ino
        assert n1 not in before and n2 not in before and n1 != n2
        drop_caches()
        assert (os.stat(mnt / "n1").st_ino, os.stat(mnt / "n2").st_ino) == (n1, n2)


def test_find_inum(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        ino = os.stat(mnt / "d" / "x").st_ino
        (mnt / "d" / "x").write_text("changed")      # copy-up between stat and find
        drop_caches()
        out = subprocess.run(["find", str(mnt), "-inum", str(ino)], check=True,
                             capture_output=True, text=True).stdout.split()
        assert out == [str(mnt / "d" / "x")]


def test_table_is_invisible(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        (mnt / "f").write_text("x")
        names = sorted(os.listdir(st.dirs[0]))
    # Only the work and pseudo-link dirs, the whiteout base and the copy: the tables
    # are unnamed.
    assert names == [".wh..wh.aufs", ".wh..wh.orph", ".wh..wh.plnk", "f"]


def test_noxino_uses_branch_numbers(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"], extra="noxino"):
        assert os.stat(mnt / "g").st_ino == os.stat(st.dirs[1] / "g").st_ino


def test_xino_path_shared_by_two_mounts(root, mnt, mnt2):
    """xino=FILE puts the tables in FILE's directory, unnamed: two unions naming
    the same FILE (as Docker does with /dev/shm/aufs.xino) do not collide."""
    xdir = root / "shm"
    xdir.mkdir()
    a, b = Stack(root, [{}, LOWER], name="a"), Stack(root, [{}, LOWER], name="b")
    with a.mounted(mnt, ["rw", "ro"], extra=f"xino={xdir}/aufs.xino"):
        with b.mounted(mnt2, ["rw", "ro"], extra=f"xino={xdir}/aufs.xino"):
            (mnt / "f").write_text("a")
            (mnt2 / "g").write_text("b")
            assert sorted(inos(mnt).values()) == sorted(inos(mnt2).values())
            assert os.listdir(xdir) == []
    assert "f" in os.listdir(a.dirs[0]) and "g" in os.listdir(b.dirs[0])


def test_xino_bad_path(root, mnt):
    st = Stack(root, [{}, LOWER])
    r = util.fsmount(f"{st.br(['rw', 'ro'])},xino={root}/missing/aufs.xino")
    assert r.errno == errno.ENOENT
    assert any("xino=" in m and "missing" in m for m in r.messages), r.messages
    r = util.fsmount(f"{st.br(['rw', 'ro'])},xino=relative")
    assert r.errno == errno.EINVAL


def test_table_filesystem_full(root, mnt):
    """When the table cannot grow (its tmpfs holds one page), a lookup that needs a
    new number fails with ENOSPC and a kernel message; numbers already given stay."""
    xdir = root / "tiny"
    xdir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(xdir)], check=True)
    kmsg = Kmsg()
    try:
        st = Stack(root, [{}, {"f": "f"}])
        with st.mounted(mnt, ["rw", "ro"], extra=f"xino={xdir}/x"):
            f_ino = os.stat(mnt / "f").st_ino
            names = [f"n{i}" for i in range(1500)]   # inode numbers beyond one page
            for n in names:
                (st.dirs[0] / n).write_text("n")
            drop_caches()
            errs = [err_of(os.lstat, mnt / n) for n in names]
            assert errno.ENOSPC in errs and set(errs) <= {0, errno.ENOSPC}
            assert os.stat(mnt / "f").st_ino == f_ino
        assert any("xino" in line and "inode number table" in line for line in kmsg.lines())
    finally:
        kmsg.close()
        subprocess.run(["umount", str(xdir)], check=True)



@pytest.mark.parametrize("trunc", [True, False])
def test_trunc_xino_gives_space_back(root, mnt, trunc):
    """trunc_xino (the default): the table blocks of removed files are punched out,
    so the table's filesystem gets its space back; notrunc_xino keeps them (aufs's
    table on tmpfs grew without bound)."""
    xdir = root / "xt"
    xdir.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(xdir)], check=True)
    free = lambda: os.statvfs(xdir).f_bfree                       # noqa: E731
    try:
        st = Stack(root, [{}, {"f": "f"}])
        extra = f"xino={xdir}/x" + ("" if trunc else ",notrunc_xino")
        with st.mounted(mnt, ["rw", "ro"], extra=extra):
            assert ("notrunc_xino" in proc_mount(mnt)[3]) == (not trunc)
            names = [mnt / f"n{i}" for i in range(3000)]
            before = free()
            for n in names:
                n.write_text("n")
            grown = free()
            assert before - grown >= 5                         # 3000 entries: 6 pages
            for n in names:
                os.unlink(n)
            after = free()
            if trunc:
                assert after >= before - 2, (before, grown, after)   # shared edge blocks
            else:
                assert after == grown, (before, grown, after)
    finally:
        subprocess.run(["umount", str(xdir)], check=True)


def test_persist_ino_across_mounts(root, mnt):
    """persist_ino: the numbers live in .wh..wh.xino on the write branch and survive
    umount and mount, also with a branch added; new files never reuse a number."""
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"], extra="persist_ino"):
        assert "persist_ino" in proc_mount(mnt)[3]
        (mnt / "f").write_text("copied")
        (mnt / "new").write_text("n")
        os.mkdir(mnt / "nd")
        first = inos(mnt)
        assert ".wh..wh.xino" not in os.listdir(mnt)
    assert (st.dirs[0] / ".wh..wh.xino" / "next").is_file()
    with st.mounted(mnt, ["rw", "ro"], extra="persist_ino"):
        assert inos(mnt) == first
        drop_caches()
        assert {e.name: e.ino for e in list_dir(mnt) if e.name not in (".", "..")} == \
            {k: v for k, v in first.items() if "/" not in k}
        (mnt / "later").write_text("l")
        assert os.stat(mnt / "later").st_ino not in first.values()
        first["later"] = os.stat(mnt / "later").st_ino
    extra = root / "extra"
    extra.mkdir()
    (extra / "x3").write_text("3")
    st3 = Stack.existing([st.dirs[0], st.dirs[1], extra])
    with st3.mounted(mnt, ["rw", "ro", "ro"], extra="persist_ino"):
        got = inos(mnt)
        assert {k: v for k, v in got.items() if k in first} == first
        assert got["x3"] not in first.values()


def test_persist_ino_needs_write_branch(root, mnt):
    st = Stack(root, [{}, LOWER])
    for extra, perms in [("persist_ino,noxino", ["rw", "ro"]), ("persist_ino", ["ro", "ro"]),
                         (f"persist_ino,xino={root}/x", ["rw", "ro"])]:
        r = util.fsmount(f"{st.br(perms)},{extra}")
        assert r.errno == errno.EINVAL, extra
        assert any("persist_ino" in m for m in r.messages), r.messages
