"""Readdir: merged, de-duplicated, whiteouts applied, `.`/`..` once, d_type, d_ino, and
positions (telldir/seekdir) that stay valid."""

import errno
import os
import stat

import pytest

from layers import (DT_OF_MODE, FIFO, OPQ, WH, Chr, Stack, drop_caches, expected_snapshot,
                    getdents, list_dir, read_dir, random_specs, snapshot)
from layers import mnt, mnt2, root  # noqa: F401 (fixtures)


def names(ents):
    return [e.name for e in ents]


def all_dirs(top):
    """Every directory under top (top included; symlinks to dirs left out), as paths."""
    out = [str(top)]
    for dirpath, dirnames, _ in os.walk(top):
        out.extend(p for p in (os.path.join(dirpath, d) for d in dirnames)
                   if not os.path.islink(p))
    return out


def listing(top):
    """{relative dir: sorted [(name, d_type)]} for every dir under top, from raw getdents."""
    out = {}
    for d in all_dirs(top):
        ents = list_dir(d)
        out[os.path.relpath(d, top)] = sorted((e.name, e.type) for e in ents
                                              if e.name not in (".", ".."))
    return out


# --- merged listings ------------------------------------------------------------------------------


@pytest.mark.parametrize("n,seed", [(1, 1), (2, 2), (2, 3), (3, 4), (3, 5), (8, 6), (8, 7)])
def test_listing_matches_overlay(root, mnt, mnt2, n, seed):
    st = Stack(root, random_specs(n, seed))
    with st.mounted(mnt, ["rw"] + ["ro+wh"] * (n - 1)):
        got = listing(mnt)
        snap = snapshot(mnt)
    with st.overlay(mnt2):
        assert listing(mnt2) == got
    assert snap == expected_snapshot(st.specs)


def test_dedup_and_dots_once(root, mnt):
    same = {"f": "x", "d/": {"g": "y"}, "l@": "f"}
    st = Stack(root, [dict(same, only0="0"), dict(same), dict(same, only2="2")])
    with st.mounted(mnt):
        for d in (mnt, mnt / "d"):
            got = names(list_dir(d))
            assert len(got) == len(set(got)), got
            assert got.count(".") == 1 and got.count("..") == 1
        assert sorted(names(list_dir(mnt))) == [".", "..", "d", "f", "l", "only0", "only2"]
        assert sorted(names(list_dir(mnt / "d"))) == [".", "..", "g"]


def test_empty_merged_dir(root, mnt):
    st = Stack(root, [{"e/": {"x": WH}}, {"e/": {"x": "1"}}, {"e/": {}}])
    with st.mounted(mnt, ["rw", "ro+wh", "ro"]):
        assert sorted(names(list_dir(mnt / "e"))) == [".", ".."]
        assert os.listdir(mnt / "e") == []


@pytest.mark.parametrize("top", ["rw", "ro+wh"])
def test_whiteouts_hidden_in_unmerged_dir(root, mnt, top):
    """Unlike overlayfs, aufs never lists whiteouts: not even in a dir that merges with none."""
    st = Stack(root, [{"solo/": {"x": WH, "y": "1", OPQ: True}}, {"other": "2"}])
    with st.mounted(mnt, [top, "ro+wh"]):
        assert sorted(names(list_dir(mnt / "solo"))) == [".", "..", "y"]


# --- d_type and d_ino -----------------------------------------------------------------------------

TYPED = [
    {"reg": "0", "dir/": {"in": "0"}, "lnk@": "reg", "file_over_dir": "0", "dir_over_file/": {},
     "dangling@": "nowhere"},
    {"fifo": FIFO, "chr": Chr(1, 3), "file_over_dir/": {"x": "1"}, "dir_over_file": "1",
     "dir/": {"low": "1", "lowdir/": {}}, "reg": "shadowed"},
    {"lnk_to_dir@": "dir", "dir/": {"lower@": "../reg"}},
]


def test_d_type_matches_stat(root, mnt, mnt2):
    st = Stack(root, TYPED)
    with st.mounted(mnt):
        got = listing(mnt)
        for d in all_dirs(mnt):
            for e in list_dir(d):
                st_mode = os.lstat(os.path.join(d, e.name)).st_mode
                assert e.type == DT_OF_MODE[stat.S_IFMT(st_mode)], (d, e)
    with st.overlay(mnt2):
        assert listing(mnt2) == got


def _check_d_ino(top):
    seen = {}
    for d in all_dirs(top):
        ents = list_dir(d)
        for e in ents:
            if e.name == "..":
                if os.path.samefile(d, top):
                    continue  # `..` of the root leaves the union
                assert e.ino == os.stat(os.path.join(d, "..")).st_ino, (d, e)
                continue
            p = os.path.join(d, e.name)
            assert e.ino == os.lstat(p).st_ino, (p, e)
            if e.name != ".":
                seen[p] = e.ino
    return seen


def test_d_ino_matches_st_ino(root, mnt):
    st = Stack(root, TYPED)
    (st.dirs[1] / "h1").write_text("h")
    (st.dirs[1] / "dir" / "hard").hardlink_to(st.dirs[1] / "h1")
    with st.mounted(mnt):
        seen = _check_d_ino(mnt)
        assert seen[f"{mnt}/dir/hard"] == seen[f"{mnt}/h1"]
        others = [ino for p, ino in seen.items() if not p.endswith(("/hard", "/h1"))]
        assert len(others) == len(set(others))


def test_d_ino_before_lookup(root, mnt):
    """d_ino must match the st_ino a later lookup gives, even when readdir comes first and
    when the inodes are evicted between the two."""
    specs = [{f"f{i}": str(i) for i in range(0, 60, 3)} | {"d/": {"x": "0"}},
             {f"f{i}": str(i) for i in range(1, 60, 3)} | {"d/": {"y": "1"}},
             {f"f{i}": str(i) for i in range(2, 60, 3)} | {"e/": {}}]
    st = Stack(root, specs)
    with st.mounted(mnt):
        first = {e.name: e.ino for e in list_dir(mnt) if e.name not in (".", "..")}
        drop_caches()
        for name, ino in first.items():
            assert os.lstat(mnt / name).st_ino == ino, name
        drop_caches()
        assert {e.name: e.ino for e in list_dir(mnt) if e.name not in (".", "..")} == first


def test_scandir_inode(root, mnt):
    st = Stack(root, TYPED)
    with st.mounted(mnt):
        with os.scandir(mnt / "dir") as it:
            ents = list(it)
        assert sorted(e.name for e in ents) == ["in", "low", "lowdir", "lower"]
        for e in ents:
            assert e.inode() == os.stat(e.path, follow_symlinks=False).st_ino, e.name
            assert e.is_dir(follow_symlinks=False) == (e.name == "lowdir")
            assert e.is_symlink() == (e.name == "lower")


# --- positions ------------------------------------------------------------------------------------

N_BIG = 500


def big_specs():
    """~500 names over 3 branches, with duplicates and whiteouts on the top."""
    specs = [{}, {}, {}]
    for j in range(N_BIG):
        name = f"e{j:03d}"
        if j % 7 == 0:
            for s in specs:
                s[name] = f"dup {j}"
        else:
            specs[j % 3][name] = str(j)
    for j in range(N_BIG):
        if j % 11 == 0 and j % 7 != 0 and j % 3 != 0:
            specs[0][f"e{j:03d}"] = WH
    return specs


@pytest.fixture
def big(root, mnt):
    st = Stack(root, big_specs())
    with st.mounted(mnt, ["rw", "ro+wh", "ro+wh"]):
        want = sorted([".", ".."] + [n for n in st.model()])
        yield mnt, want


def test_big_dir_complete(big):
    mnt, want = big
    assert len(want) > 400
    got = names(list_dir(mnt, 256))
    assert sorted(got) == want
    assert len(got) == len(set(got))


def test_big_dir_matches_overlay(root, mnt, mnt2):
    st = Stack(root, big_specs())
    with st.mounted(mnt, ["rw", "ro+wh", "ro+wh"]):
        got = sorted(os.listdir(mnt))
    with st.overlay(mnt2):
        assert sorted(os.listdir(mnt2)) == got


@pytest.mark.parametrize("bufsize", [24, 100, 256, 4096])
def test_small_buffers(big, bufsize):
    """Every buffer size gives the same complete list, in the same order."""
    mnt, want = big
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        got = names(read_dir(fd, bufsize))
        os.lseek(fd, 0, os.SEEK_SET)
        assert names(read_dir(fd, 32768)) == got
    finally:
        os.close(fd)
    assert sorted(got) == want


def test_buffer_too_small(big):
    mnt, want = big
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError) as exc:
            getdents(fd, 8)
        assert exc.value.errno == errno.EINVAL
        assert sorted(names(read_dir(fd, 4096))) == want  # nothing consumed or lost
    finally:
        os.close(fd)


def test_seek_to_saved_positions(big):
    mnt, want = big
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ents = read_dir(fd, 256)
        full = names(ents)
        assert sorted(full) == want
        picks = [0, 1, 2, 3, 50, 137, 250, len(ents) // 2, len(ents) - 2, len(ents) - 1]
        # Forwards, backwards, and jumping around.
        for k in picks + picks[::-1] + [250, 1, len(ents) - 2, 0]:
            os.lseek(fd, ents[k].off, os.SEEK_SET)
            assert names(read_dir(fd, 256)) == full[k + 1:], k
        # A position saved mid-read is good after reading further.
        os.lseek(fd, 0, os.SEEK_SET)
        head = getdents(fd, 256)
        saved = head[-1].off
        rest = read_dir(fd, 100)
        os.lseek(fd, saved, os.SEEK_SET)
        assert names(read_dir(fd, 4096)) == names(rest)
        # Rewind: the complete list again.
        os.lseek(fd, 0, os.SEEK_SET)
        assert names(read_dir(fd, 1000)) == full
    finally:
        os.close(fd)


def test_positions_survive_changes(big):
    """A position saved before names were created and removed (from every branch,
    before and after it in the listing) resumes where it was, in the same open and
    in a new one (as knfsd reads): nothing read already comes again, nothing that
    was after it and is still there is missed; a new open no longer lists the
    removed names (the same open may: POSIX leaves that open until a rewind)."""
    mnt, want = big
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        head = getdents(fd, 2048)
        cookie = head[-1].off
        seen = set(names(head)) - {".", ".."}
        rest = set(names(read_dir(fd, 4096)))
        assert seen and len(rest) > 100 and not seen & rest
        removed = set(sorted(seen)[::5]) | set(sorted(rest)[::5])
        for n in removed:
            os.unlink(mnt / n)                         # upper, lower (whiteout) or both
        created = {f"new{i:03d}" for i in range(60)}
        for n in created:
            (mnt / n).write_text("new")
        for reader in ("same open", "new open"):
            rfd = fd if reader == "same open" else os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.lseek(rfd, cookie, os.SEEK_SET)
                got = names(read_dir(rfd, 1024))
            finally:
                if rfd != fd:
                    os.close(rfd)
            assert len(got) == len(set(got)), reader
            assert not set(got) & seen, reader                     # no repeats
            assert rest - removed <= set(got) <= rest | created, reader   # no misses
            if reader == "new open":
                assert not set(got) & removed
    finally:
        os.close(fd)


def test_positions_survive_drop_caches(big):
    mnt, want = big
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ents = read_dir(fd, 256)
        drop_caches()
        k = len(ents) // 3
        os.lseek(fd, ents[k].off, os.SEEK_SET)
        assert names(read_dir(fd, 256)) == names(ents)[k + 1:]
    finally:
        os.close(fd)


def test_interleaved_readers(big):
    """Three open dirs read in turns: each sees the complete list once."""
    mnt, want = big
    fds = [os.open(mnt, os.O_RDONLY | os.O_DIRECTORY) for _ in range(3)]
    try:
        got = [[] for _ in fds]
        done = [False] * len(fds)
        while not all(done):
            for i, fd in enumerate(fds):
                if not done[i]:
                    batch = getdents(fd, 200 + 100 * i)
                    done[i] = not batch
                    got[i].extend(names(batch))
        for g in got:
            assert sorted(g) == want
    finally:
        for fd in fds:
            os.close(fd)


def test_each_dir_has_own_position(root, mnt):
    """Reading one merged dir does not move another one's position."""
    specs = [{"a/": {f"a{i}": "" for i in range(40)}, "b/": {f"b{i}": "" for i in range(40)}},
             {"a/": {f"A{i}": "" for i in range(40)}, "b/": {f"B{i}": "" for i in range(40)}}]
    st = Stack(root, specs)
    with st.mounted(mnt):
        fa = os.open(mnt / "a", os.O_RDONLY | os.O_DIRECTORY)
        fb = os.open(mnt / "b", os.O_RDONLY | os.O_DIRECTORY)
        try:
            ga, gb = [], []
            while True:
                ba, bb = getdents(fa, 128), getdents(fb, 128)
                if not ba and not bb:
                    break
                ga += names(ba)
                gb += names(bb)
            assert sorted(ga) == sorted([".", ".."] + [f"a{i}" for i in range(40)]
                                        + [f"A{i}" for i in range(40)])
            assert sorted(gb) == sorted([".", ".."] + [f"b{i}" for i in range(40)]
                                        + [f"B{i}" for i in range(40)])
        finally:
            os.close(fa)
            os.close(fb)
