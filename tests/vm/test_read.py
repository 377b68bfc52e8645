"""Files through the union: read, pread, mmap, seeking, symlinks, special files, inode
numbers, st_dev, statfs, xattrs."""

import array
import errno
import mmap
import os
import stat

import pytest

from layers import FIFO, WH, Chr, Stack, err_of
from layers import mnt, mnt2, root  # noqa: F401 (fixtures)


def pattern(size: int, salt: int = 0) -> bytes:
    """size bytes where every 8-byte word holds its own offset (plus salt): misplaced pages
    show up as wrong data, not as equal bytes."""
    words = array.array("Q", range(salt, salt + (size + 7) // 8 * 8, 8))
    return words.tobytes()[:size]


MiB = 1 << 20


# --- read, pread, mmap ----------------------------------------------------------------------------


@pytest.fixture
def files(root, mnt):
    """A stack with files on each of three branches (mounted: yields (mnt, stack))."""
    st = Stack(root, [{"top": "from the top\n", "same": "top version"},
                      {"mid": pattern(3 * 4096 + 17, 1), "same": "mid version, longer"},
                      {"low": pattern(200_000, 2), "empty": "", "same": "low",
                       "big": b""}])
    (st.dirs[2] / "big").write_bytes(pattern(8 * MiB, 3))
    with st.mounted(mnt):
        yield mnt, st


def test_read_contents(files):
    mnt, st = files
    assert (mnt / "top").read_bytes() == b"from the top\n"
    assert (mnt / "mid").read_bytes() == pattern(3 * 4096 + 17, 1)
    assert (mnt / "low").read_bytes() == pattern(200_000, 2)
    assert (mnt / "empty").read_bytes() == b""
    assert (mnt / "same").read_bytes() == b"top version"
    assert os.stat(mnt / "same").st_size == len("top version")


def test_read_in_small_chunks(files):
    mnt, _ = files
    fd = os.open(mnt / "low", os.O_RDONLY)
    try:
        chunks = []
        while True:
            c = os.read(fd, 4093)
            if not c:
                break
            chunks.append(c)
        assert b"".join(chunks) == pattern(200_000, 2)
        assert os.read(fd, 10) == b""
    finally:
        os.close(fd)


def test_pread(files):
    mnt, _ = files
    want = pattern(200_000, 2)
    fd = os.open(mnt / "low", os.O_RDONLY)
    try:
        for off, n in [(0, 1), (1, 7), (4095, 2), (4096, 4096), (12345, 54321), (199_990, 100),
                       (200_000, 10), (300_000, 10), (0, 200_000)]:
            assert os.pread(fd, n, off) == want[off:off + n], (off, n)
        # pread does not move the file position
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
        assert os.read(fd, 5) == want[:5]
    finally:
        os.close(fd)


def test_big_file(files):
    mnt, st = files
    want = pattern(8 * MiB, 3)
    assert os.stat(mnt / "big").st_size == 8 * MiB
    with open(mnt / "big", "rb", buffering=0) as f:
        assert f.read() == want
        f.seek(5 * MiB + 3)
        assert f.read(MiB) == want[5 * MiB + 3:6 * MiB + 3]


def test_read_directory_eisdir(files):
    mnt, _ = files
    fd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert err_of(os.read, fd, 10) == errno.EISDIR
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", ["mid", "low", "big"])
def test_mmap_shared(files, name):
    mnt, st = files
    want = (mnt / name).read_bytes()
    with open(mnt / name, "rb") as f:
        m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    try:  # the mapping outlives the fd
        assert len(m) == len(want)
        assert m[:] == want
        assert m[len(want) // 2:len(want) // 2 + 100] == want[len(want) // 2:][:100]
    finally:
        m.close()


def test_mmap_private_write_stays_private(files):
    mnt, st = files
    want = pattern(200_000, 2)
    with open(mnt / "low", "rb") as f:
        m = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_PRIVATE,
                      prot=mmap.PROT_READ | mmap.PROT_WRITE)
    try:
        assert m[:] == want
        m[0:4] = b"XXXX"
        m[100_000:100_004] = b"YYYY"
        assert m[0:4] == b"XXXX"
    finally:
        m.close()
    assert (mnt / "low").read_bytes() == want
    assert (st.dirs[2] / "low").read_bytes() == want


def test_sendfile_from_union(files, scratch):
    mnt, _ = files
    out = os.path.join(scratch, "copy")
    with open(mnt / "low", "rb") as src, open(out, "wb") as dst:
        sent = 0
        while sent < 200_000:
            n = os.sendfile(dst.fileno(), src.fileno(), sent, 200_000 - sent)
            assert n > 0
            sent += n
    assert open(out, "rb").read() == pattern(200_000, 2)


# --- seeking --------------------------------------------------------------------------------------

SEEK_DATA = getattr(os, "SEEK_DATA", 3)
SEEK_HOLE = getattr(os, "SEEK_HOLE", 4)


def _seek(fd, off, whence):
    try:
        return os.lseek(fd, off, whence)
    except OSError as e:
        return -e.errno


def test_lseek_like_branch(root, mnt):
    st = Stack(root, [{}, {}])
    sparse = st.dirs[1] / "sparse"
    with open(sparse, "wb") as f:
        f.write(b"head")
        f.seek(MiB)
        f.write(b"d" * 8192)
        f.truncate(4 * MiB)
    size = 4 * MiB
    offsets = [0, 3, 4, 4096, MiB - 1, MiB, MiB + 100, MiB + 8192, 3 * MiB, size - 1, size,
               size + 1]
    with st.mounted(mnt):
        fb = os.open(sparse, os.O_RDONLY)
        fu = os.open(mnt / "sparse", os.O_RDONLY)
        try:
            assert os.lseek(fu, 0, os.SEEK_END) == size
            assert os.lseek(fu, -10, os.SEEK_END) == size - 10
            assert os.read(fu, 100) == b"\0" * 10
            assert os.lseek(fu, 7, os.SEEK_SET) == 7
            assert os.lseek(fu, 5, os.SEEK_CUR) == 12
            assert _seek(fu, -1, os.SEEK_SET) == -errno.EINVAL
            for off in offsets:
                for whence in (SEEK_DATA, SEEK_HOLE):
                    assert _seek(fu, off, whence) == _seek(fb, off, whence), (off, whence)
        finally:
            os.close(fb)
            os.close(fu)


# --- symlinks -------------------------------------------------------------------------------------


def test_symlinks(root, mnt, mnt2, scratch):
    outside = os.path.join(scratch, "outside")
    with open(outside, "w") as f:
        f.write("outside the union")
    specs = [
        {"rel@": "f", "d/": {"up@": "../e/g", "same@": "h"}, "abs@": outside,
         "dangling@": "nowhere", "todir@": "d", "hidden@": "gone", "chain@": "rel"},
        {"f": "file f", "d/": {"h": "h in d"}, "gone": WH},
        {"e/": {"g": "g in e"}, "gone": "whited out"},
    ]
    st = Stack(root, specs)
    with st.mounted(mnt, ["rw", "ro+wh", "ro"]):
        assert os.readlink(mnt / "rel") == "f"
        assert os.readlink(mnt / "d" / "up") == "../e/g"
        assert os.readlink(mnt / "abs") == outside
        assert (mnt / "rel").read_text() == "file f"
        assert (mnt / "chain").read_text() == "file f"
        assert (mnt / "d" / "up").read_text() == "g in e"
        assert (mnt / "d" / "same").read_text() == "h in d"
        assert (mnt / "abs").read_text() == "outside the union"
        assert sorted(os.listdir(mnt / "todir")) == ["h", "same", "up"]
        # Resolution happens in the union: the whiteout hides gone.
        assert err_of(os.stat, mnt / "hidden") == errno.ENOENT
        assert err_of(os.stat, mnt / "dangling") == errno.ENOENT
        l, s = os.lstat(mnt / "rel"), os.stat(mnt / "rel")
        assert stat.S_ISLNK(l.st_mode) and l.st_size == 1
        assert stat.S_ISREG(s.st_mode) and s.st_size == len("file f")
        assert s.st_ino == os.stat(mnt / "f").st_ino != l.st_ino
        assert stat.S_ISLNK(os.lstat(mnt / "dangling").st_mode)
        assert err_of(os.readlink, mnt / "f") == errno.EINVAL
        got = {p: os.readlink(mnt / p) for p in ["rel", "d/up", "abs", "dangling", "chain"]}
    with st.overlay(mnt2):
        assert {p: os.readlink(mnt2 / p) for p in got} == got
        assert (mnt2 / "d" / "up").read_text() == "g in e"
        assert err_of(os.stat, mnt2 / "hidden") == errno.ENOENT


def test_o_nofollow_and_o_path(root, mnt):
    st = Stack(root, [{"l@": "f"}, {"f": "data"}])
    with st.mounted(mnt):
        assert err_of(os.open, mnt / "l", os.O_RDONLY | os.O_NOFOLLOW) == errno.ELOOP
        fd = os.open(mnt / "l", os.O_PATH | os.O_NOFOLLOW)
        try:
            assert os.readlink("", dir_fd=fd) == "f"
        finally:
            os.close(fd)


# --- special files --------------------------------------------------------------------------------


def test_special_files(root, mnt, mnt2):
    st = Stack(root, [{"top": "0"}, {"fifo": FIFO}, {"null": Chr(1, 3), "zero": Chr(1, 5)}])
    with st.mounted(mnt):
        s = os.stat(mnt / "fifo")
        assert stat.S_ISFIFO(s.st_mode)
        c = os.stat(mnt / "null")
        assert stat.S_ISCHR(c.st_mode)
        assert (os.major(c.st_rdev), os.minor(c.st_rdev)) == (1, 3)
        assert os.stat(mnt / "zero").st_rdev == os.makedev(1, 5)
        with open(mnt / "zero", "rb") as f:  # the device itself, not the branch's inode data
            assert f.read(16) == b"\0" * 16
        with open(mnt / "null", "rb") as f:
            assert f.read(16) == b""
        fd = os.open(mnt / "fifo", os.O_RDONLY | os.O_NONBLOCK)
        try:
            assert os.read(fd, 10) == b""
        finally:
            os.close(fd)
        got = {n: (stat.S_IFMT(os.stat(mnt / n).st_mode), os.stat(mnt / n).st_rdev)
               for n in ["fifo", "null", "zero"]}
    with st.overlay(mnt2):
        assert {n: (stat.S_IFMT(os.stat(mnt2 / n).st_mode), os.stat(mnt2 / n).st_rdev)
                for n in got} == got


def test_fifo_through_union_passes_data(root, mnt):
    st = Stack(root, [{}, {"fifo": FIFO}])
    with st.mounted(mnt):
        r = os.open(mnt / "fifo", os.O_RDONLY | os.O_NONBLOCK)
        w = os.open(mnt / "fifo", os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(w, b"through the fifo")
            assert os.read(r, 100) == b"through the fifo"
        finally:
            os.close(w)
            os.close(r)


# --- inode numbers, st_dev, statfs ----------------------------------------------------------------


def test_hardlinks_on_lower_branch(root, mnt):
    st = Stack(root, [{"top": "t"}, {"a": "linked", "d/": {}}, {"x": "other"}])
    os.link(st.dirs[1] / "a", st.dirs[1] / "b")
    os.link(st.dirs[1] / "a", st.dirs[1] / "d" / "c")
    with st.mounted(mnt):
        sa, sb, sc = (os.stat(mnt / p) for p in ["a", "b", "d/c"])
        assert sa.st_ino == sb.st_ino == sc.st_ino
        assert sa.st_nlink == 3
        assert os.stat(mnt / "x").st_ino != sa.st_ino
        assert (mnt / "d" / "c").read_text() == "linked"


def test_hardlink_partly_shadowed(root, mnt):
    """b is a hardlink of a on branch 1, but branch 0 shadows b with another file."""
    st = Stack(root, [{"b": "shadow"}, {"a": "linked"}])
    os.link(st.dirs[1] / "a", st.dirs[1] / "b")
    with st.mounted(mnt):
        assert (mnt / "b").read_text() == "shadow"
        assert os.stat(mnt / "a").st_ino != os.stat(mnt / "b").st_ino


def test_inode_numbers_distinct_and_stable(root, mnt):
    specs = [{f"f{i}": str(i) for i in range(i0, 90, 3)} | {f"d{i0}/": {"x": str(i0)}}
             for i0 in range(3)]
    st = Stack(root, specs)
    with st.mounted(mnt):
        paths = sorted(os.listdir(mnt)) + [f"d{i}/x" for i in range(3)]
        first = {p: os.lstat(mnt / p).st_ino for p in paths}
        assert len(set(first.values())) == len(paths)
        assert os.stat(mnt).st_ino not in first.values()
        again = {p: os.lstat(mnt / p).st_ino for p in paths}
        assert again == first
        with open(mnt / "f4") as f:
            assert os.fstat(f.fileno()).st_ino == first["f4"]


def test_st_dev(root, mnt):
    st = Stack(root, [{"a": "0", "d/": {"x": "0"}}, {"b": "1", "d/": {"y": "1"}}])
    with st.mounted(mnt):
        dev = os.stat(mnt).st_dev
        branch_devs = {os.stat(d).st_dev for d in st.dirs}
        assert dev not in branch_devs
        for p in ["a", "b", "d", "d/x", "d/y"]:
            assert os.lstat(mnt / p).st_dev == dev, p
        with open(mnt / "b") as f:
            assert os.fstat(f.fileno()).st_dev == dev


def test_statfs(root, mnt):
    st = Stack(root, [{"a": "0"}, {"b": "1"}])
    with st.mounted(mnt):
        s = os.statvfs(mnt)
        assert s.f_bsize > 0
        assert s.f_namemax > 0
        assert s.f_blocks > 0
        assert os.statvfs(mnt / "b").f_bsize == s.f_bsize
        fd = os.open(mnt / "a", os.O_RDONLY)
        try:
            assert os.fstatvfs(fd).f_bsize == s.f_bsize
        finally:
            os.close(fd)


# --- xattrs ---------------------------------------------------------------------------------------


def _user_xattr(path, name, value):
    try:
        os.setxattr(path, name, value)
    except OSError as e:
        if e.errno in (errno.ENOTSUP, errno.EPERM):
            pytest.skip(f"branch fs refuses user xattrs: {e}")
        raise


def test_xattr_visible(root, mnt):
    st = Stack(root, [{"f": "top"}, {"g": "low", "d/": {}}])
    _user_xattr(st.dirs[1] / "g", "user.origin", b"lower branch")
    _user_xattr(st.dirs[1] / "d", "user.dir", b"d")
    _user_xattr(st.dirs[0] / "f", "user.big", bytes(range(256)) * 8)
    with st.mounted(mnt):
        assert os.getxattr(mnt / "g", "user.origin") == b"lower branch"
        assert "user.origin" in os.listxattr(mnt / "g")
        assert os.getxattr(mnt / "d", "user.dir") == b"d"
        assert "user.dir" in os.listxattr(mnt / "d")
        assert os.getxattr(mnt / "f", "user.big") == bytes(range(256)) * 8
        assert err_of(os.getxattr, mnt / "g", "user.none") == errno.ENODATA
        assert "user.origin" not in os.listxattr(mnt / "f")
        with open(mnt / "g") as fp:
            assert os.getxattr(fp.fileno(), "user.origin") == b"lower branch"


def test_xattr_of_shadowed_file_not_visible(root, mnt):
    st = Stack(root, [{"f": "top"}, {"f": "low"}])
    _user_xattr(st.dirs[1] / "f", "user.low", b"1")
    _user_xattr(st.dirs[0] / "f", "user.top", b"0")
    with st.mounted(mnt):
        assert err_of(os.getxattr, mnt / "f", "user.low") == errno.ENODATA
        assert os.getxattr(mnt / "f", "user.top") == b"0"
        assert "user.low" not in os.listxattr(mnt / "f")
