"""Mount options: branch syntax and perms, errors (errno and message), ignored legacy options,
/proc/mounts, and the read-only union."""

import errno
import os
import subprocess

import pytest

import util
from layers import Stack, proc_mount, snapshot, sys_mount
from layers import mnt, mnt2, root  # noqa: F401 (fixtures)

SPECS = [{"top": "0", "d/": {"x": "0"}}, {"mid": "1", "d/": {"y": "1"}}, {"bot": "2"}]


def fsmount_ok(opts, mnt):
    """Mount through the new API at mnt; assert success."""
    res = util.fsmount(opts, target=str(mnt))
    assert res.errno == 0, (os.strerror(res.errno), res.messages)
    return res


def fails(opts, err, *needles):
    """Assert util.fsmount(opts) fails with err and an `e rustaufs:` message naming a needle."""
    res = util.fsmount(opts)
    got = os.strerror(res.errno) if res.errno else "mounted"
    assert res.errno == err, (got, res.messages)
    errs = [m for m in res.messages if m.startswith("e rustaufs:")]
    assert errs, res.messages
    if needles:
        assert any(str(n) in m for m in errs for n in needles), (needles, errs)


def mount8_fails(opts, mnt):
    with pytest.raises(subprocess.CalledProcessError):
        util.mount(str(mnt), opts)
    assert proc_mount(mnt) is None


def real(p):
    return os.path.realpath(p)


# --- branch syntax and perms --------------------------------------------------------------------

SYNTAXES = {
    # name: (option template, perms shown in /proc/mounts)
    "br=": ("br={0}:{1}:{2}", ["rw", "ro", "ro"]),
    "br:": ("br:{0}:{1}:{2}", ["rw", "ro", "ro"]),
    "dirs=": ("dirs={0}:{1}:{2}", ["rw", "ro", "ro"]),
    "perms": ("br={0}=rw:{1}=ro:{2}=rr", ["rw", "ro", "rr"]),
    "br:perms": ("br:{0}=ro:{1}=ro:{2}=ro", ["ro", "ro", "ro"]),
    "attrs": ("br={0}=rw+nolwh:{1}=ro+wh:{2}=rr+wh", ["rw+nolwh", "ro+wh", "rr+wh"]),
    "ro+wh top": ("br={0}=ro+wh:{1}=rr:{2}", ["ro+wh", "rr", "ro"]),
}


@pytest.mark.parametrize("via", ["fsmount", "mount8"])
@pytest.mark.parametrize("syntax", list(SYNTAXES))
def test_branch_syntax(root, mnt, syntax, via):
    st = Stack(root, SPECS)
    template, perms = SYNTAXES[syntax]
    opts = template.format(*st.dirs)
    if via == "fsmount":
        fsmount_ok(opts, mnt)
    else:
        util.mount(str(mnt), opts)
    try:
        assert sorted(os.listdir(mnt)) == ["bot", "d", "mid", "top"]
        assert sorted(os.listdir(mnt / "d")) == ["x", "y"]
        src, mp, fstype, options = proc_mount(mnt)
        assert fstype == "rustaufs"
        want = "br:" + ":".join(f"{real(d)}={p}" for d, p in zip(st.dirs, perms))
        assert want in options, options
    finally:
        util.umount(str(mnt))


def test_proc_mounts_resolved_paths(root, mnt):
    """Branch paths are shown resolved: absolute, no symlinks, no `..`."""
    st = Stack(root, SPECS)
    (st.dirs[0] / "sub").mkdir()
    spelled = [f"{st.dirs[0]}/sub/..", f"{st.dirs[1]}/", str(st.dirs[2])]
    util.mount(str(mnt), "br=" + ":".join(spelled))
    try:
        options = proc_mount(mnt)[3]
        brs = [o for o in options if o.startswith("br:") or o.startswith("br=")]
        assert brs == ["br:" + ":".join(f"{real(d)}={p}"
                                        for d, p in zip(st.dirs, ["rw", "ro", "ro"]))]
        assert str(root) not in brs[0]  # root is a symlink: it must have been resolved
    finally:
        util.umount(str(mnt))


def test_single_branch(root, mnt):
    st = Stack(root, [{"f": "only"}])
    fsmount_ok(st.br(), mnt)
    try:
        assert (mnt / "f").read_text() == "only"
        assert f"br:{real(st.dirs[0])}=rw" in proc_mount(mnt)[3]
    finally:
        util.umount(str(mnt))


# --- errors ---------------------------------------------------------------------------------------


def test_nonexistent_branch(root, mnt):
    st = Stack(root, SPECS)
    nope = f"{root}/nope"
    fails(f"br={st.dirs[0]}:{nope}", errno.ENOENT, nope, "nope")
    fails(f"br={nope}:{st.dirs[0]}", errno.ENOENT, nope, "nope")
    mount8_fails(f"br={st.dirs[0]}:{nope}", mnt)


def test_branch_not_a_directory(root, mnt):
    st = Stack(root, [{"file": "x"}, {}])
    f = st.dirs[0] / "file"
    fails(f"br={st.dirs[1]}:{f}", errno.ENOTDIR, f, real(f))
    mount8_fails(f"br={st.dirs[1]}:{f}", mnt)


@pytest.mark.parametrize("second", ["same", "slash", "dot", "resolved"])
def test_same_branch_twice(root, mnt, second):
    st = Stack(root, SPECS)
    a = str(st.dirs[0])
    other = {"same": a, "slash": a + "/", "dot": a + "/.", "resolved": real(a)}[second]
    opts = f"br={a}:{st.dirs[1]}:{other}"
    fails(opts, errno.EINVAL, a, real(a))
    mount8_fails(opts, mnt)


@pytest.mark.parametrize("order", ["parent first", "child first"])
def test_nested_branches(root, mnt, order):
    st = Stack(root, [{"sub/": {"deep/": {}}}, {}])
    outer, inner = str(st.dirs[0]), str(st.dirs[0] / "sub" / "deep")
    pair = [outer, inner] if order == "parent first" else [inner, outer]
    opts = f"br={pair[0]}:{st.dirs[1]}:{pair[1]}"
    fails(opts, errno.EINVAL, outer, inner, real(outer), real(inner))
    mount8_fails(opts, mnt)


@pytest.mark.parametrize("where", ["subdir", "root"])
def test_branch_on_rustaufs(root, mnt, mnt2, where):
    st = Stack(root, SPECS)
    other = Stack(root, [{"o": "o"}], name="b")
    with st.mounted(mnt):
        inside = mnt / "d" if where == "subdir" else mnt
        assert (mnt / "d" / "x").read_text() == "0"
        fails(f"br={other.dirs[0]}:{inside}", errno.EINVAL, inside, real(inside))
        fails(f"br={inside}:{other.dirs[0]}", errno.EINVAL, inside, real(inside))
        mount8_fails(f"br={other.dirs[0]}:{inside}", mnt2)


@pytest.mark.parametrize("fs", ["/proc", "/sys"])
def test_branch_on_proc_sys(root, mnt, fs):
    st = Stack(root, SPECS)
    fails(f"br={st.dirs[0]}:{fs}", errno.EINVAL, fs)
    mount8_fails(f"br={st.dirs[0]}:{fs}", mnt)


def _many(root, n):
    # Short names: 128 branches must fit in one page of mount data.
    return Stack(root, [{f"f{i}": str(i)} for i in range(n)], name="")


def test_127_branches(root, mnt):
    st = _many(root, 127)
    with st.mounted(mnt):
        assert (mnt / "f0").read_text() == "0"
        assert (mnt / "f126").read_text() == "126"
        assert len(os.listdir(mnt)) == 127


def test_128_branches_e2big(root, mnt):
    st = _many(root, 128)
    data = st.br()
    assert len(data) < 4096
    assert sys_mount("none", mnt, "rustaufs", 0, data) == errno.E2BIG
    assert proc_mount(mnt) is None
    mount8_fails(data, mnt)


@pytest.mark.parametrize("bad", ["foo=1", "bogus", "udba=bogus", "br"])
def test_unknown_option(root, mnt, bad):
    st = Stack(root, SPECS)
    opts = f"{st.br()},{bad}"
    needle = bad.split("=")[-1] if bad.startswith("udba") else bad.split("=")[0]
    fails(opts, errno.EINVAL, needle)
    mount8_fails(opts, mnt)


@pytest.mark.parametrize("perm", ["rx", "rwx", "wh", "ro+bogus"])
def test_unknown_perm(root, mnt, perm):
    st = Stack(root, SPECS)
    opts = f"br={st.dirs[0]}:{st.dirs[1]}={perm}"
    fails(opts, errno.EINVAL, perm.split("+")[-1])
    mount8_fails(opts, mnt)


@pytest.mark.parametrize("branch", ["rw+wh", "ro+nolwh", "rr+nolwh"])
def test_attr_on_wrong_perm(root, mnt, branch):
    st = Stack(root, SPECS)
    first, second = ("rw+wh", "ro") if branch == "rw+wh" else ("rw", branch)
    opts = f"br={st.dirs[0]}={first}:{st.dirs[1]}={second}"
    fails(opts, errno.EINVAL, branch.split("+")[1])
    mount8_fails(opts, mnt)


@pytest.mark.parametrize("opts", ["br=", "br:", "dirs=", "", "udba=reval", "si=abc,dio"])
def test_no_branches(mnt, opts):
    fails(opts or [], errno.EINVAL, "br", "branch")
    mount8_fails(opts or "defaults", mnt)


# --- options accepted for old command lines ------------------------------------------------------

IGNORED = ["si=abc", "udba=reval", "udba=none", "udba=notify", "dirperm1", "warn_perm", "plink",
           "noplink", "dio", "nodio"]


@pytest.mark.parametrize("opt", IGNORED)
def test_ignored_option(root, mnt, opt):
    st = Stack(root, SPECS)
    for opts in (f"{opt},{st.br()}", f"{st.br()},{opt}"):
        fsmount_ok(opts, mnt)
        try:
            assert sorted(os.listdir(mnt)) == ["bot", "d", "mid", "top"]
        finally:
            util.umount(str(mnt))


def test_ignored_options_together_mount8(root, mnt):
    st = Stack(root, SPECS)
    opts = ",".join(IGNORED[:4] + [st.br()] + IGNORED[4:])
    util.mount(str(mnt), opts)
    try:
        assert (mnt / "d" / "y").read_text() == "1"
        assert proc_mount(mnt)[2] == "rustaufs"
    finally:
        util.umount(str(mnt))


# --- read-only union ------------------------------------------------------------------------------

RO_SPECS = [{"f": "top", "d/": {"x": "0"}, "empty/": {}, "l@": "f"},
            {"f": "low", "d/": {"g": "1"}, "g2": "2"}]


def _setxattr(p):
    os.setxattr(p, "user.k", b"v")


def _removexattr(p):
    os.removexattr(p, "user.k")


def _open(flags):
    def op(m):
        os.close(os.open(m / "f", flags, 0o644))
    return op


WRITES = {
    "open_wronly": _open(os.O_WRONLY),
    "open_rdwr": _open(os.O_RDWR),
    "open_trunc": _open(os.O_RDONLY | os.O_TRUNC),
    "open_append": _open(os.O_WRONLY | os.O_APPEND),
    "open_lower_wronly": lambda m: os.close(os.open(m / "g2", os.O_WRONLY)),
    "creat": lambda m: os.close(os.open(m / "new", os.O_WRONLY | os.O_CREAT, 0o644)),
    "creat_excl": lambda m: os.close(os.open(m / "d/new", os.O_RDWR | os.O_CREAT | os.O_EXCL)),
    "mkdir": lambda m: os.mkdir(m / "newdir"),
    "mkdir_sub": lambda m: os.mkdir(m / "d" / "newdir"),
    "rmdir": lambda m: os.rmdir(m / "empty"),
    "unlink": lambda m: os.unlink(m / "f"),
    "unlink_lower": lambda m: os.unlink(m / "d" / "g"),
    "unlink_symlink": lambda m: os.unlink(m / "l"),
    "rename": lambda m: os.rename(m / "f", m / "f2"),
    "rename_over": lambda m: os.rename(m / "g2", m / "f"),
    "rename_dir": lambda m: os.rename(m / "d", m / "d2"),
    "link": lambda m: os.link(m / "f", m / "f3"),
    "symlink": lambda m: os.symlink("f", m / "l2"),
    "mkfifo": lambda m: os.mkfifo(m / "fifo"),
    "chmod": lambda m: os.chmod(m / "f", 0o600),
    "chmod_dir": lambda m: os.chmod(m / "d", 0o700),
    "chmod_root": lambda m: os.chmod(m, 0o700),
    "chown": lambda m: os.chown(m / "g2", 1, 1),
    "lchown_symlink": lambda m: os.lchown(m / "l", 1, 1),
    "utime": lambda m: os.utime(m / "f", (1, 1)),
    "truncate": lambda m: os.truncate(m / "f", 0),
    "truncate_lower": lambda m: os.truncate(m / "g2", 100),
    "setxattr": lambda m: _setxattr(m / "f"),
    "removexattr": lambda m: _removexattr(m / "f"),
}


def _branch_state(st):
    out = {}
    for d in st.dirs:
        for rel, v in snapshot(d).items():
            s = os.lstat(d / rel)
            out[f"{d.name}/{rel}"] = v + (s.st_mode, s.st_uid, s.st_mtime_ns)
    return out


@pytest.mark.parametrize("op", list(WRITES))
def test_all_ro_union_is_erofs(root, mnt, op):
    st = Stack(root, RO_SPECS)
    before = _branch_state(st)
    with st.mounted(mnt, ["ro", "ro"]):
        with pytest.raises(OSError) as exc:
            WRITES[op](mnt)
        assert exc.value.errno == errno.EROFS, exc.value
        assert (mnt / "f").read_text() == "top"
    assert _branch_state(st) == before


def test_all_ro_union_shows_ro(root, mnt):
    st = Stack(root, RO_SPECS)
    with st.mounted(mnt, ["ro", "ro"]):
        assert proc_mount(mnt)[3][0] == "ro"
        assert os.statvfs(mnt).f_flag & os.ST_RDONLY
    res = fsmount_ok(st.br(["ro+wh", "rr"]), mnt)
    try:
        assert proc_mount(mnt)[3][0] == "ro", res.messages
        assert os.access(mnt / "f", os.R_OK)
        assert not os.access(mnt / "f", os.W_OK)
    finally:
        util.umount(str(mnt))


# --- remount --------------------------------------------------------------------------------------


def test_remount_with_mountinfo_options(root, mnt):
    """`mount -o remount,ro DIR` makes mount(8) pass the /proc/mounts options back, branch list
    included: the same branches are accepted; different ones are refused (not supported yet)."""
    st = Stack(root, SPECS)
    util.mount(str(mnt), st.br())
    try:
        before = proc_mount(mnt)[3]
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True, capture_output=True)
        assert sorted(os.listdir(mnt)) == ["bot", "d", "mid", "top"]
        assert [o for o in proc_mount(mnt)[3] if o.startswith("br:")] == \
            [o for o in before if o.startswith("br:")]
        r = subprocess.run(["mount", "-o", f"remount,br={st.dirs[1]}", "none", str(mnt)],
                           capture_output=True, text=True)
        assert r.returncode != 0, r
        assert sorted(os.listdir(mnt)) == ["bot", "d", "mid", "top"]
    finally:
        util.umount(str(mnt))
