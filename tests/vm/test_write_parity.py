"""The write side against overlayfs: the same operations on the same layers give the
same errno and the same merged tree; plus aufs-only rules (whiteout names, nolwh)."""

import ctypes
import errno
import os
import subprocess

import pytest

import util
from layers import Stack, err_of, mnt, root, snapshot  # noqa: F401  (fixtures)

LOWER = {
    "f": "lower f", "g": "lower g", "d/": {"x": "x", "sub/": {"y": "y"}},
    "e/": {}, "full/": {"z": "z"}, "s@": "f",
}
libc = ctypes.CDLL(None, use_errno=True)
RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT = 1, 2, 4


def renameat2(a, b, flags):
    if libc.renameat2(-100, os.fsencode(str(a)), -100, os.fsencode(str(b)), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def wr(path, data="n", flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = os.open(path, flags, 0o644)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)


# (name, operation on a mount point). Each runs on a fresh pair of mounts.
CASES = [
    ("create_excl_existing", lambda m: wr(m / "f", flags=os.O_WRONLY | os.O_CREAT | os.O_EXCL)),
    ("create_in_missing_dir", lambda m: wr(m / "nodir" / "n")),
    ("create_new", lambda m: wr(m / "d" / "new")),
    ("trunc_lower", lambda m: wr(m / "f", "")),
    ("append_lower", lambda m: wr(m / "f", "+", os.O_WRONLY | os.O_APPEND)),
    ("mkdir_existing", lambda m: os.mkdir(m / "d")),
    ("mkdir_new", lambda m: os.mkdir(m / "d" / "n")),
    ("rmdir_nonempty", lambda m: os.rmdir(m / "full")),
    ("rmdir_empty_lower", lambda m: os.rmdir(m / "e")),
    ("rmdir_after_emptying", lambda m: (os.unlink(m / "full" / "z"), os.rmdir(m / "full"))),
    ("rmdir_file", lambda m: os.rmdir(m / "f")),
    ("unlink_dir", lambda m: os.unlink(m / "d")),
    ("unlink_lower", lambda m: os.unlink(m / "f")),
    ("unlink_missing", lambda m: os.unlink(m / "nope")),
    ("unlink_recreate", lambda m: (os.unlink(m / "f"), wr(m / "f", "again"))),
    ("rmdir_mkdir_opaque", lambda m: (os.unlink(m / "full" / "z"), os.rmdir(m / "full"), os.mkdir(m / "full"))),
    ("link_dir", lambda m: os.link(m / "d", m / "dl")),
    ("link_lower", lambda m: os.link(m / "f", m / "d" / "fl")),
    ("link_existing", lambda m: os.link(m / "f", m / "g")),
    ("symlink_existing", lambda m: os.symlink("x", m / "f")),
    ("symlink_new", lambda m: os.symlink("f", m / "d" / "sl")),
    ("mkfifo", lambda m: os.mkfifo(m / "d" / "p")),
    ("rename_file", lambda m: os.rename(m / "f", m / "d" / "f2")),
    ("rename_over_lower", lambda m: os.rename(m / "f", m / "g")),
    ("rename_file_over_dir", lambda m: os.rename(m / "f", m / "e")),
    ("rename_dir_over_file", lambda m: os.rename(m / "e", m / "f")),
    ("rename_dir_into_self", lambda m: (os.mkdir(m / "n"), os.rename(m / "n", m / "n" / "x"))),
    ("rename_upper_dir", lambda m: (os.mkdir(m / "n"), wr(m / "n" / "a"), os.rename(m / "n", m / "n2"))),
    ("rename_upper_dir_over_full", lambda m: (os.mkdir(m / "n"), os.rename(m / "n", m / "full"))),
    ("rename_upper_dir_over_empty_lower", lambda m: (os.mkdir(m / "n"), wr(m / "n" / "a"),
                                                     os.rename(m / "n", m / "e"))),
    ("rename_upper_dir_over_emptied", lambda m: (os.unlink(m / "full" / "z"), os.mkdir(m / "n"),
                                                 wr(m / "n" / "a"), os.rename(m / "n", m / "full"))),
    ("rename_emptied_over_emptied", lambda m: (os.mkdir(m / "n"), os.mkdir(m / "n" / "z"),
                                               os.unlink(m / "full" / "z"), os.rmdir(m / "n" / "z"),
                                               os.rename(m / "n", m / "full"))),
    ("rename_exchange_dir_with_merged", lambda m: (os.mkdir(m / "n"),
                                                   renameat2(m / "n", m / "e", RENAME_EXCHANGE))),
    ("rename_noreplace_existing", lambda m: renameat2(m / "f", m / "g", RENAME_NOREPLACE)),
    ("rename_noreplace_whited", lambda m: (os.unlink(m / "g"), renameat2(m / "f", m / "g", RENAME_NOREPLACE))),
    ("rename_exchange", lambda m: (wr(m / "u", "upper"), renameat2(m / "f", m / "u", RENAME_EXCHANGE))),
    ("rename_exchange_missing", lambda m: renameat2(m / "f", m / "nope", RENAME_EXCHANGE)),
    ("rename_then_create_old", lambda m: (os.rename(m / "f", m / "f2"), wr(m / "f", "new"))),
    ("rename_over_then_unlink", lambda m: (os.rename(m / "f", m / "g"), os.unlink(m / "g"))),
    ("truncate_dir", lambda m: os.truncate(m / "d", 0)),
    ("chmod_lower", lambda m: os.chmod(m / "d" / "sub" / "y", 0o600)),
    ("lchown_symlink", lambda m: os.lchown(m / "s", 7, 7)),
    ("utime_lower", lambda m: os.utime(m / "g", (1, 2))),
    ("setxattr_lower", lambda m: os.setxattr(m / "g", "user.k", b"v")),
    ("deep_create", lambda m: os.makedirs(m / "d" / "sub" / "a" / "b")),
]


def view(m):
    """snapshot() plus mode, owner, link count (non-directories) and user. xattrs."""
    out = {}
    for rel, v in snapshot(m).items():
        p = os.path.join(m, rel)
        s = os.lstat(p)
        nlink = None if v[0] == "d" else s.st_nlink
        xattrs = {} if v[0] == "l" else {k: os.getxattr(p, k) for k in os.listxattr(p) if k.startswith("user.")}
        out[rel] = v + (s.st_mode, s.st_uid, s.st_gid, nlink, xattrs)
    return out


def outcome(m, op):
    err = err_of(op, m)
    return err, view(m)


@pytest.mark.parametrize("name,op", CASES, ids=[c[0] for c in CASES])
def test_same_as_overlayfs(root, mnt, name, op):
    st = Stack(root, [{}, LOWER])
    up, work, omnt = root / "up", root / "work", root / "omnt"
    for d in (up, work, omnt):
        d.mkdir()
    with st.mounted(mnt, ["rw", "ro"]):
        ours = outcome(mnt, op)
    util.mount_overlay(str(omnt), [str(d) for d in st.ovl_dirs[1:]], str(up), str(work))
    try:
        theirs = outcome(omnt, op)
    finally:
        util.umount(str(omnt))
    assert ours[0] == theirs[0], (errno.errorcode.get(ours[0]), errno.errorcode.get(theirs[0]))
    assert ours[1] == theirs[1]
    # And the change is still there after a fresh mount.
    with st.mounted(mnt, ["rw", "ro"]):
        assert view(mnt) == ours[1]


def test_rename_dir_with_lower_parts_is_exdev(root, mnt):
    """As overlayfs without redirect_dir: EXDEV, and mv(1) copies the tree."""
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        assert err_of(os.rename, mnt / "d", mnt / "d2") == errno.EXDEV
        assert err_of(renameat2, mnt / "f", mnt / "g", RENAME_WHITEOUT) == errno.EINVAL
        subprocess.run(["mv", str(mnt / "d"), str(mnt / "d2")], check=True)   # mv copies
        assert sorted(os.listdir(mnt / "d2")) == ["sub", "x"] and not (mnt / "d").exists()


def test_whiteout_names_and_limits(root, mnt):
    st = Stack(root, [{}, LOWER])
    with st.mounted(mnt, ["rw", "ro"]):
        for fn in (lambda: wr(mnt / ".wh.x"), lambda: os.mkdir(mnt / ".wh.x"),
                   lambda: os.symlink("f", mnt / ".wh.x"), lambda: os.link(mnt / "f", mnt / ".wh.x"),
                   lambda: os.rename(mnt / "g", mnt / ".wh.x")):
            assert err_of(fn) == errno.EPERM
        wr(mnt / ("n" * 242))
        os.unlink(mnt / ("n" * 242))
        assert err_of(wr, mnt / ("n" * 243)) == errno.ENAMETOOLONG
        assert err_of(os.mkdir, mnt / ("n" * 243)) == errno.ENAMETOOLONG
        assert err_of(os.rename, mnt / "g", mnt / ("n" * 243)) == errno.ENAMETOOLONG
        assert not any(n.startswith(".wh.") for n in os.listdir(mnt))


@pytest.mark.parametrize("nolwh", [False, True])
def test_whiteouts_on_disk(root, mnt, nolwh):
    st = Stack(root, [{}, LOWER])
    rw = st.dirs[0]
    with st.mounted(mnt, ["rw+nolwh" if nolwh else "rw", "ro"]):
        os.unlink(mnt / "f")
        os.unlink(mnt / "g")
        os.rmdir(mnt / "e")
        assert sorted(os.listdir(mnt)) == ["d", "full", "s"]
    for n in ("f", "g", "e"):
        s = os.lstat(rw / f".wh.{n}")
        assert s.st_size == 0 and s.st_mode & 0o777 == 0o444
        if nolwh:
            assert s.st_nlink == 1
        else:
            assert s.st_ino == os.stat(rw / ".wh..wh.aufs").st_ino
    if not nolwh:
        assert os.stat(rw / ".wh..wh.aufs").st_nlink == 4
    else:
        assert not (rw / ".wh..wh.aufs").exists()


SESSION = r"""
set -e
cd "$1"
tar -xf "$2"                                   # unpack over existing dirs
sed -i 's/^root:.*/root:x:0:0:root:\/root:\/bin\/zsh/' etc/passwd
printf 'alice:x:1000:1000::/home/alice:/bin/sh\n' >> etc/passwd
cp -a etc/hosts etc/hosts.bak
mv etc/hosts.bak etc/hosts.orig
mkdir -p var/lib/pkg/a/b/c && echo state > var/lib/pkg/a/b/c/db
rm -rf usr/share/doc
ln -s ../lib/libfoo.so.1 usr/bin/foo-link
ln usr/bin/tool usr/bin/tool-hard
chmod -R go-w usr/lib
python3 -c "import os; open('etc/new.tmp','w').write('x'); os.replace('etc/new.tmp','etc/new.conf')"
find . -name '*.log' -delete
touch -d @1000000000 etc/hostname
"""


def lower_tree():
    tree = {"etc/": {"passwd": "root:x:0:0:root:/root:/bin/sh\n", "hosts": "127.0.0.1 localhost\n",
                     "hostname": "box\n", "app/": {f"c{i}.conf": f"k={i}\n" for i in range(40)}},
            "usr/": {"bin/": {"tool": "#!/bin/sh\n", "a.log": "l"},
                     "lib/": {f"lib{i}.so": "x" * i for i in range(60)},
                     "share/": {"doc/": {f"d{i}": "doc" for i in range(50)}, "man/": {"m": "m"}}},
            "var/": {"log/": {"x.log": "1", "y.log": "2"}, "lib/": {}}}
    return tree


def test_realistic_session_same_as_overlayfs(root, mnt):
    st = Stack(root, [{}, lower_tree()])
    src = root / "src"
    (src / "etc" / "app").mkdir(parents=True)
    (src / "etc" / "app" / "c1.conf").write_text("k=new\n")
    (src / "opt").mkdir()
    (src / "opt" / "pkg").write_text("pkg")
    tarball = root / "pkg.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", str(src), "etc", "opt"], check=True)
    up, work, omnt = root / "up", root / "work", root / "omnt"
    for d in (up, work, omnt):
        d.mkdir()
    views = []
    for kind in ("rustaufs", "overlay"):
        if kind == "rustaufs":
            util.mount_union(str(mnt), st.branches(["rw", "ro"]))
            m = mnt
        else:
            util.mount_overlay(str(omnt), [str(d) for d in st.ovl_dirs[1:]], str(up), str(work))
            m = omnt
        try:
            subprocess.run(["bash", "-c", SESSION, "session", str(m), str(tarball)], check=True)
            views.append(view(m))
        finally:
            util.umount(str(m))
    assert views[0] == views[1]
    with st.mounted(mnt, ["rw", "ro"]):
        assert view(mnt) == views[0]
    # The write branch holds exactly what the session changed.
    rw = st.dirs[0]
    changed = {p for p in snapshot(rw) if not p.split("/")[-1].startswith(".wh.")}
    assert "etc/passwd" in changed and "var/lib/pkg/a/b/c/db" in changed
    assert not any(p.startswith("usr/share/man") or p.startswith("etc/app/c2") for p in changed)
    assert (rw / "usr" / "share" / ".wh.doc").exists()
