"""Pseudo-links: the hard links of a lower file stay one file after one name is
copied up (same st_ino, contents and st_nlink through every name, also after the
caches are dropped), and at umount (or remount with clean_plink) they become real
hard links on the write branch."""

import os
import subprocess

from layers import Stack, drop_caches, mnt, proc_mount, root  # noqa: F401  (fixtures)

PLNK = ".wh..wh.plnk"


def linked_stack(root):
    """Lower: d/a with the hard links d/b and e/c (3 names), and a lone file z."""
    st = Stack(root, [{}, {"d/": {"a": "1"}, "e/": {}, "z": "z"}])
    lo = st.dirs[1]
    os.link(lo / "d" / "a", lo / "d" / "b")
    os.link(lo / "d" / "a", lo / "e" / "c")
    return st


NAMES = ["d/a", "d/b", "e/c"]


def view(mnt, names):
    """(st_ino, st_nlink, contents) of each name."""
    out = {}
    for n in names:
        s = os.stat(mnt / n)
        out[n] = (s.st_ino, s.st_nlink, (mnt / n).read_text())
    return out


def one_file(v, nlink, text):
    """All names show one inode with `nlink` links and `text`."""
    assert len({ino for ino, _, _ in v.values()}) == 1, v
    assert {(n, t) for _, n, t in v.values()} == {(nlink, text)}, v


def upper_links(rw, names):
    """The write branch's inode numbers of `names` and their link counts."""
    return {n: (os.lstat(rw / n).st_ino, os.lstat(rw / n).st_nlink) for n in names}


def test_names_follow_copy_up(root, mnt):
    st = linked_stack(root)
    rw, lo = st.dirs
    with st.mounted(mnt, ["rw", "ro"]):
        before = view(mnt, NAMES)
        one_file(before, 3, "1")
        with open(mnt / "d" / "a", "a") as f:
            f.write("+")
        one_file(view(mnt, NAMES), 3, "1+")
        drop_caches()
        after = view(mnt, NAMES)
        one_file(after, 3, "1+")
        assert after["d/a"][0] == before["d/a"][0]         # the number did not change
        assert os.listdir(rw / PLNK) != []                  # the pseudo-link
        assert not (rw / "e").exists()                      # e/c was not copied up
        # Writing through another name changes the same file.
        with open(mnt / "e" / "c", "a") as f:
            f.write("c")
        drop_caches()
        one_file(view(mnt, NAMES), 3, "1+c")
    # At umount every name got its hard link on the write branch.
    ups = upper_links(rw, NAMES)
    assert len({i for i, _ in ups.values()}) == 1 and {n for _, n in ups.values()} == {3}, ups
    assert (rw / "e" / "c").read_text() == "1+c"
    assert os.listdir(rw / PLNK) == []
    assert (lo / "d" / "a").read_text() == "1" and os.stat(lo / "d" / "a").st_nlink == 3
    # The next mount shows the same file through every name.
    with st.mounted(mnt, ["rw", "ro"]):
        one_file(view(mnt, NAMES), 3, "1+c")


def test_link_and_unlink_keep_counts(root, mnt):
    st = linked_stack(root)
    rw = st.dirs[0]
    with st.mounted(mnt, ["rw", "ro"]):
        os.chmod(mnt / "d" / "a", 0o640)                    # copy-up without data change
        os.unlink(mnt / "d" / "b")                           # a lower name: a whiteout
        one_file(view(mnt, ["d/a", "e/c"]), 2, "1")
        os.link(mnt / "e" / "c", mnt / "n")                  # link from a lower name
        drop_caches()
        v = view(mnt, ["d/a", "e/c", "n"])
        one_file(v, 3, "1")
        assert os.stat(mnt / "n").st_mode & 0o777 == 0o640
        os.rename(mnt / "e" / "c", mnt / "c2")               # rename of a linked name
        drop_caches()
        one_file(view(mnt, ["d/a", "n", "c2"]), 3, "1")
        assert not (mnt / "e" / "c").exists() and not (mnt / "d" / "b").exists()
        os.unlink(mnt / "n")
        one_file(view(mnt, ["d/a", "c2"]), 2, "1")
    ups = upper_links(rw, ["d/a", "c2"])
    assert len({i for i, _ in ups.values()}) == 1 and {n for _, n in ups.values()} == {2}, ups
    assert (rw / "d" / ".wh.b").exists() and (rw / "e" / ".wh.c").exists()
    assert os.listdir(rw / PLNK) == []


def test_copied_name_removed(root, mnt):
    """The copied-up name goes away: the other names keep the new data (held by the
    pseudo-link), and get it at umount."""
    st = linked_stack(root)
    rw = st.dirs[0]
    with st.mounted(mnt, ["rw", "ro"]):
        (mnt / "d" / "a").write_text("new")
        os.unlink(mnt / "d" / "a")
        drop_caches()
        one_file(view(mnt, ["d/b", "e/c"]), 2, "new")
        os.link(mnt / "d" / "b", mnt / "d" / "a2")
        one_file(view(mnt, ["d/b", "e/c", "d/a2"]), 3, "new")
    ups = upper_links(rw, ["d/b", "e/c", "d/a2"])
    assert len({i for i, _ in ups.values()}) == 1 and {n for _, n in ups.values()} == {3}, ups
    assert (rw / "e" / "c").read_text() == "new"


def test_find_and_tar_see_one_file(root, mnt):
    st = linked_stack(root)
    with st.mounted(mnt, ["rw", "ro"]):
        (mnt / "d" / "a").write_text("changed")
        drop_caches()
        ino = os.stat(mnt / "e" / "c").st_ino
        found = subprocess.run(["find", str(mnt), "-inum", str(ino)], check=True,
                               capture_output=True, text=True).stdout.split()
        assert sorted(found) == sorted(str(mnt / n) for n in NAMES)
        tar = subprocess.run(f"tar -C {mnt} -cf - d e | tar -tvf -", shell=True, check=True,
                             capture_output=True, text=True).stdout
        links = [line for line in tar.splitlines() if " link to " in line]
        assert len(links) == 2, tar                          # two names stored as links


def test_remount_clean_plink(root, mnt):
    st = linked_stack(root)
    rw = st.dirs[0]
    with st.mounted(mnt, ["rw", "ro"]):
        (mnt / "d" / "a").write_text("x")
        assert os.listdir(rw / PLNK) != []
        subprocess.run(["mount", "-o", "remount,clean_plink", str(mnt)], check=True)
        assert os.listdir(rw / PLNK) == []
        ups = upper_links(rw, NAMES)
        assert len({i for i, _ in ups.values()}) == 1, ups
        one_file(view(mnt, NAMES), 3, "x")
        drop_caches()
        one_file(view(mnt, NAMES), 3, "x")


def test_noplink_keeps_names_apart(root, mnt):
    """With noplink (aufs's behaviour too) a name looked up afresh after the copy-up
    of another shows the lower file; remount with plink turns them on again."""
    st = linked_stack(root)
    rw = st.dirs[0]
    with st.mounted(mnt, ["rw", "ro"], extra="noplink"):
        assert "noplink" in proc_mount(mnt)[3]
        (mnt / "d" / "a").write_text("x")
        drop_caches()
        assert (mnt / "d" / "b").read_text() == "1"
        assert not (rw / PLNK).exists() or os.listdir(rw / PLNK) == []
        subprocess.run(["mount", "-o", "remount,plink", str(mnt)], check=True)
        assert "noplink" not in proc_mount(mnt)[3]
        (mnt / "z").write_text("z")                          # one link: no pseudo-link
        assert os.listdir(rw / PLNK) == []
        (mnt / "d" / "b").write_text("y")                    # a copy of its own, linked
        drop_caches()
        assert (mnt / "e" / "c").read_text() == "y" and (mnt / "d" / "a").read_text() == "x"


def test_leftovers_cleaned_at_mount(root, mnt):
    """What an unclean unmount left in .wh..wh.plnk: an extra name of a file that has
    another is removed; a file's only name is kept (its data would be lost)."""
    st = linked_stack(root)
    rw = st.dirs[0]
    (rw / PLNK).mkdir(mode=0o700)
    (rw / "kept").write_text("k")
    os.link(rw / "kept", rw / PLNK / "11.1")
    (rw / PLNK / "12.2").write_text("only name")
    with st.mounted(mnt, ["rw", "ro"]):
        assert sorted(os.listdir(rw / PLNK)) == ["12.2"]
        assert PLNK not in os.listdir(mnt)
        assert (mnt / "kept").read_text() == "k"
