"""Lookup: top-down precedence, dir merging, whiteouts, opaque dirs, hidden `.wh.` names."""

import errno
import os
import stat

import pytest

from layers import OPQ, WH, Stack, err_of, expected_snapshot, snapshot
from layers import mnt, mnt2, root  # noqa: F401 (fixtures)


def check_union(st, mnt, mnt2, perms=None):
    """The union shows exactly the model, and the same as overlayfs on the same layers."""
    with st.mounted(mnt, perms):
        got = snapshot(mnt)
    assert got == expected_snapshot(st.specs)
    with st.overlay(mnt2):
        assert snapshot(mnt2) == got
    return got


# --- precedence -----------------------------------------------------------------------------------

PRECEDENCE = [(1, {0}), (2, {1}), (2, {0, 1}), (8, {3, 5, 7}), (8, {7}), (64, {63}),
              (64, {17, 40, 63}), (64, set(range(64)))]


@pytest.mark.parametrize("n,holders", PRECEDENCE,
                         ids=[f"{n}br-{len(h)}holders" for n, h in PRECEDENCE])
def test_topmost_file_wins(root, mnt, mnt2, n, holders):
    specs = [{f"only{i}": f"only on {i}"} for i in range(n)]
    for i in holders:
        specs[i]["f"] = f"from branch {i}"
    st = Stack(root, specs)
    with st.mounted(mnt):
        assert (mnt / "f").read_text() == f"from branch {min(holders)}"
        assert (mnt / f"only{n - 1}").read_text() == f"only on {n - 1}"
        assert sorted(os.listdir(mnt)) == sorted(["f"] + [f"only{i}" for i in range(n)])
        for i in range(n):
            assert (mnt / f"only{i}").read_text() == f"only on {i}"
    check_union(st, mnt, mnt2)


@pytest.mark.parametrize("n", [2, 8, 64])
def test_topmost_size_and_type_win(root, mnt, n):
    """A later stat must not mix attributes of the shadowed files."""
    specs = [{} for _ in range(n)]
    specs[n - 1]["f"] = "x" * 1000
    specs[(n - 1) // 2]["f"] = "short"
    specs[n - 1]["l@"] = "f"
    specs[0]["l"] = "a file, not the symlink below"
    st = Stack(root, specs)
    with st.mounted(mnt):
        assert os.stat(mnt / "f").st_size == 5
        assert stat.S_ISREG(os.lstat(mnt / "l").st_mode)
        assert (mnt / "l").read_text() == "a file, not the symlink below"


def test_file_hides_dir_below(root, mnt, mnt2):
    st = Stack(root, [{"x": "file"}, {"x/": {"a": "1"}}])
    with st.mounted(mnt):
        assert (mnt / "x").read_text() == "file"
        assert err_of(os.stat, mnt / "x" / "a") == errno.ENOTDIR
        assert err_of(os.stat, f"{mnt}/x/") == errno.ENOTDIR
        assert err_of(os.listdir, mnt / "x") == errno.ENOTDIR
        assert os.listdir(mnt) == ["x"]
    check_union(st, mnt, mnt2)


def test_dir_hides_file_below_and_stops_merge(root, mnt, mnt2):
    st = Stack(root, [{"x/": {"a": "0"}}, {"x/": {"b": "1"}}, {"x": "file"}, {"x/": {"c": "3"}}])
    with st.mounted(mnt):
        assert stat.S_ISDIR(os.stat(mnt / "x").st_mode)
        assert sorted(os.listdir(mnt / "x")) == ["a", "b"]
        assert (mnt / "x" / "b").read_text() == "1"
        assert err_of(os.stat, mnt / "x" / "c") == errno.ENOENT
    check_union(st, mnt, mnt2)


def test_symlink_hides_dir_below(root, mnt, mnt2):
    st = Stack(root, [{"x@": "y"}, {"x/": {"a": "1"}, "y/": {"b": "2"}}])
    with st.mounted(mnt):
        assert stat.S_ISLNK(os.lstat(mnt / "x").st_mode)
        assert os.listdir(mnt / "x") == ["b"]
        assert (mnt / "x" / "b").read_text() == "2"
        assert err_of(os.stat, mnt / "x" / "a") == errno.ENOENT
    check_union(st, mnt, mnt2)


@pytest.mark.parametrize("n", [1, 2, 8])
def test_dirs_merge_level_by_level(root, mnt, mnt2, n):
    """Branch k holds d0/d1/.../dk/fk: every level merges the branches that have it."""
    specs = []
    for k in range(n):
        spec = {f"f{k}": f"level {k}"}
        for level in reversed(range(k + 1)):
            spec = {f"d{level}/": spec}
        specs.append(spec)
    st = Stack(root, specs)
    with st.mounted(mnt):
        path = mnt
        for k in range(n):
            path = path / f"d{k}"
            want = {f"f{k}"} | ({f"d{k + 1}"} if k + 1 < n else set())
            assert set(os.listdir(path)) == want
            assert (path / f"f{k}").read_text() == f"level {k}"
    check_union(st, mnt, mnt2)


def test_dir_on_one_branch_only(root, mnt):
    st = Stack(root, [{"top/": {"t": "0"}}, {}, {"bottom/": {"deep/": {"b": "2"}}}])
    with st.mounted(mnt):
        assert (mnt / "top" / "t").read_text() == "0"
        assert (mnt / "bottom" / "deep" / "b").read_text() == "2"
        assert err_of(os.stat, mnt / "top" / "b") == errno.ENOENT
        assert err_of(os.stat, mnt / "nowhere") == errno.ENOENT
        assert err_of(os.stat, mnt / "nowhere" / "x") == errno.ENOENT


def test_dot_and_dotdot(root, mnt):
    st = Stack(root, [{"d/": {"s/": {}, "f": "0"}}, {"d/": {"s/": {"g": "1"}}}])
    with st.mounted(mnt):
        ino = lambda p: os.stat(p).st_ino  # noqa: E731
        assert ino(f"{mnt}/d/..") == ino(mnt)
        assert ino(f"{mnt}/d/s/..") == ino(mnt / "d")
        assert ino(f"{mnt}/d/s/../..") == ino(mnt)
        assert ino(f"{mnt}/d/.") == ino(mnt / "d")
        assert open(f"{mnt}/d/s/../s/./g").read() == "1"
        assert open(f"{mnt}/d/./s/../f").read() == "0"


@pytest.mark.parametrize("length", [240, 250, 251, 252, 255])
def test_long_names_on_lower_branch(root, mnt, mnt2, length):
    """A name too long to have a `.wh.` twin must still be found (no ENAMETOOLONG)."""
    name = "n" * length
    st = Stack(root, [{"d/": {}}, {name: "long", "d/": {name: "long in d"}}])
    with st.mounted(mnt):
        assert (mnt / name).read_text() == "long"
        assert (mnt / "d" / name).read_text() == "long in d"
        assert name in os.listdir(mnt)
        assert os.listdir(mnt / "d") == [name]
        assert err_of(os.stat, mnt / ("m" * 255)) == errno.ENOENT
        assert err_of(os.stat, mnt / ("m" * 256)) == errno.ENAMETOOLONG
    check_union(st, mnt, mnt2)


# --- whiteouts and opaque dirs ------------------------------------------------------------------

TOP_PERMS = ["rw", "ro+wh"]

WH_SPECS = [
    # branch 0: whiteouts of a (entries on 1 and 2), of the dir wd, and of sub/p
    {"a": WH, "b": "b0", "wd": WH, "sub/": {"p": WH, "q": "q0"}, "t/": {"u": WH}},
    # branch 1 (ro+wh): whiteouts of b (but b0 above stays) and c, and of sub/r
    {"a": "a1", "b": WH, "c": WH, "sub/": {"p": "p1", "r": WH}, "t": WH},
    {"a": "a2", "b": "b2", "c": "c2", "e": "e2", "wd/": {"x": "x2"},
     "sub/": {"r": "r2", "s": "s2"}, "t/": {"u": "u2", "v": "v2"}},
]


@pytest.mark.parametrize("top", TOP_PERMS)
def test_whiteouts(root, mnt, mnt2, top):
    st = Stack(root, WH_SPECS)
    perms = [top, "ro+wh", "ro"]
    with st.mounted(mnt, perms):
        for hidden in ["a", "c", "wd", "wd/x", "sub/p", "sub/r"]:
            assert err_of(os.lstat, mnt / hidden) == errno.ENOENT, hidden
            assert err_of(os.open, mnt / hidden, os.O_RDONLY) == errno.ENOENT, hidden
        assert (mnt / "b").read_text() == "b0"
        assert (mnt / "e").read_text() == "e2"
        assert sorted(os.listdir(mnt)) == ["b", "e", "sub", "t"]
        assert sorted(os.listdir(mnt / "sub")) == ["q", "s"]
        assert (mnt / "sub" / "s").read_text() == "s2"
        # t: a dir on 0 over a whiteout on 1: t/ of branch 2 is not merged.
        assert os.listdir(mnt / "t") == []
        assert err_of(os.stat, mnt / "t" / "v") == errno.ENOENT
    check_union(st, mnt, mnt2, perms)


@pytest.mark.parametrize("top", TOP_PERMS)
def test_whiteout_hides_only_lower_branches(root, mnt, top):
    """A whiteout on branch i hides the name below i, never on i itself or above."""
    st = Stack(root, [{"x": "top"}, {"x": WH, "y": WH}, {"x": "bottom", "y": "bottom"}])
    with st.mounted(mnt, [top, "ro+wh", "ro"]):
        assert (mnt / "x").read_text() == "top"
        assert err_of(os.stat, mnt / "y") == errno.ENOENT
        assert sorted(os.listdir(mnt)) == ["x"]


@pytest.mark.parametrize("n", [2, 8, 64])
def test_whiteout_hides_all_lower(root, mnt, n):
    """A whiteout on the top hides the name on every branch below, down to the bottom."""
    specs = [{"f": f"from {i}", f"own{i}": str(i)} for i in range(n)]
    specs[0] = {"f": WH}
    st = Stack(root, specs)
    with st.mounted(mnt, ["rw"] + ["ro+wh"] * (n - 1)):
        assert err_of(os.stat, mnt / "f") == errno.ENOENT
        assert sorted(os.listdir(mnt)) == sorted(f"own{i}" for i in range(1, n))


OPQ_SPECS = [
    {"d/": {OPQ: True, "a": "0"}, "m/": {"x": "0"}, "solo/": {OPQ: True, "s": "0"}},
    {"d/": {"b": "1"}, "m/": {OPQ: True, "y": "1", "sub/": {"k": "1"}}},
    {"d/": {"c": "2"}, "m/": {"z": "2", "sub/": {"hidden": "2"}}},
]


@pytest.mark.parametrize("top", TOP_PERMS)
def test_opaque_dirs(root, mnt, mnt2, top):
    st = Stack(root, OPQ_SPECS)
    perms = [top, "ro+wh", "ro"]
    with st.mounted(mnt, perms):
        assert os.listdir(mnt / "d") == ["a"]
        assert err_of(os.stat, mnt / "d" / "b") == errno.ENOENT
        assert err_of(os.stat, mnt / "d" / "c") == errno.ENOENT
        assert sorted(os.listdir(mnt / "m")) == ["sub", "x", "y"]
        assert err_of(os.stat, mnt / "m" / "z") == errno.ENOENT
        assert os.listdir(mnt / "m" / "sub") == ["k"]
        assert err_of(os.stat, mnt / "m" / "sub" / "hidden") == errno.ENOENT
        assert os.listdir(mnt / "solo") == ["s"]
    check_union(st, mnt, mnt2, perms)


# --- `.wh.` names are never visible -------------------------------------------------------------

HIDDEN_NAMES = [".wh.a", ".wh.gone", ".wh..wh..opq", ".wh..wh.plnk", ".wh..wh.aufs",
                ".wh..wh.orph", ".wh..wh.tmp.1f2e", ".wh.nothing"]


def _wh_stack(root):
    st = Stack(root, [{"a": WH, "d/": {OPQ: True, "gone": WH, "k": "0"}},
                      {"a": "1", "gone": "1", "d/": {"gone": "1", "l": "1"}}])
    top, low = st.dirs
    (top / ".wh..wh.plnk").mkdir(mode=0o700)
    (top / ".wh..wh.plnk" / "123.456").write_text("plink")
    (top / ".wh..wh.aufs").write_text("")
    (top / ".wh..wh.orph").mkdir()
    (top / ".wh..wh.tmp.1f2e").write_text("tmp")
    (low / ".wh..wh.plnk").mkdir(mode=0o700)
    (low / "d" / ".wh..wh.aufs").write_text("")
    return st


@pytest.mark.parametrize("name", HIDDEN_NAMES)
@pytest.mark.parametrize("top", TOP_PERMS)
def test_wh_names_enoent(root, mnt, top, name):
    st = _wh_stack(root)
    with st.mounted(mnt, [top, "ro+wh"]):
        for where in (mnt, mnt / "d"):
            assert err_of(os.lstat, where / name) == errno.ENOENT, where / name
            assert err_of(os.open, where / name, os.O_RDONLY) == errno.ENOENT
        assert err_of(os.listdir, mnt / ".wh..wh.plnk") == errno.ENOENT
        assert err_of(os.stat, mnt / ".wh..wh.plnk" / "123.456") == errno.ENOENT


@pytest.mark.parametrize("top", TOP_PERMS)
def test_wh_names_not_listed(root, mnt, top):
    st = _wh_stack(root)
    with st.mounted(mnt, [top, "ro+wh"]):
        assert sorted(os.listdir(mnt)) == ["d", "gone"]
        assert os.listdir(mnt / "d") == ["k"]
        for dirpath, dirnames, filenames in os.walk(mnt):
            for name in dirnames + filenames:
                assert not name.startswith(".wh."), os.path.join(dirpath, name)
