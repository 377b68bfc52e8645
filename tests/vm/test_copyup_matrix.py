"""Copy-up from every branch filesystem to every other (tmpfs, ext4, xfs, btrfs): what lands
on the write branch is the lower file's data with its holes, mode, owner, times, xattrs of
every namespace and POSIX ACL; the lower file is unchanged; st_ino stays; on a reflink
filesystem a same-filesystem copy shares the lower file's extents instead of copying."""
import array
import fcntl
import os
import struct
import subprocess

import pytest

import util

KINDS = ("tmpfs", "ext4", "xfs", "btrfs")
MIB = 1 << 20
SIZE = 3 * MIB
DATA = ((0, 64 << 10), (MIB, MIB + (64 << 10)))      # the rest is holes
XATTRS = {"user.a": b"user value", "trusted.b": b"trusted value",
          "security.rustaufs-test": b"security value"}
TIMES = (1_000_000_001_234_567_891, 1_100_000_000_987_654_321)   # atime, mtime (ns)
ACL = "u::rw-,u:1000:rw-,g::r--,m::rw-,o::---"

FS_IOC_FIEMAP = 0xC020660B
FIEMAP_FLAG_SYNC = 1
FIEMAP_EXTENT_LAST = 0x1
FIEMAP_EXTENT_SHARED = 0x2000


def fill(start, end):
    return array.array("Q", range(start, end, 8)).tobytes()


def make_sparse(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for start, end in DATA:
            os.pwrite(fd, fill(start, end), start)
        os.ftruncate(fd, SIZE)
        os.fsync(fd)
    finally:
        os.close(fd)
    for name, value in XATTRS.items():
        os.setxattr(path, name, value)
    subprocess.run(["setfacl", "--set", ACL, path], check=True)
    os.chown(path, 1234, 5678)
    os.chmod(path, 0o640)
    os.utime(path, ns=TIMES)


def data_ranges(path):
    """[(start, end)] of the data regions SEEK_DATA/SEEK_HOLE report."""
    ranges = []
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while True:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            ranges.append((start, end))
            pos = end
    finally:
        os.close(fd)
    return ranges


def all_shared(path):
    """True if FIEMAP shows every extent of `path` shared with another file."""
    count = 32
    buf = bytearray(struct.pack("QQIIII", 0, 2**64 - 1, FIEMAP_FLAG_SYNC, 0, count, 0)
                    + bytes(56 * count))
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
    finally:
        os.close(fd)
    mapped = struct.unpack_from("I", buf, 20)[0]
    flags = [struct.unpack_from("I", buf, 32 + 56 * i + 40)[0] for i in range(mapped)]
    return mapped > 0 and all(f & FIEMAP_EXTENT_SHARED for f in flags)


def getfacl(path):
    return subprocess.run(["getfacl", "-cpnE", path], capture_output=True, text=True,
                          check=True).stdout.split()


SGI_ACL = ("trusted.SGI_ACL_FILE", "trusted.SGI_ACL_DEFAULT")


def strip(xattrs):
    return {k: v for k, v in xattrs.items() if k not in SGI_ACL}


def xattrs(path):
    return {n: os.getxattr(path, n) for n in sorted(os.listxattr(path))}


def content():
    want = bytearray(SIZE)
    for start, end in DATA:
        want[start:end] = fill(start, end)
    return want


def snapshot(path):
    """What must not change on the lower branch; reads no data (that would set atime)."""
    st = os.lstat(path)
    return (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_atime_ns, st.st_mtime_ns,
            st.st_ino, xattrs(path), data_ranges(path))


@pytest.mark.parametrize("lower_kind", KINDS)
@pytest.mark.parametrize("upper_kind", KINDS)
def test_copy_up(fsdir, mnt, upper_kind, lower_kind):
    upper, lower = fsdir(upper_kind), fsdir(lower_kind)
    for name in ("written", "xattr"):
        make_sparse(lower / name)
    before = {n: snapshot(lower / n) for n in ("written", "xattr")}
    holes = data_ranges(lower / "written")
    assert len(holes) == 2, f"{lower_kind} does not keep the holes: {holes}"
    util.mount_union(mnt, [(upper, "rw"), (lower, "ro")])
    try:
        ino = {n: os.stat(mnt / n).st_ino for n in ("written", "xattr")}
        # Copy-up by a write (new data, new mtime) and by setxattr (data and times kept).
        fd = os.open(mnt / "written", os.O_WRONLY)
        try:
            os.pwrite(fd, b"XY", 100)
        finally:
            os.close(fd)
        os.setxattr(mnt / "xattr", "user.new", b"new")
        for name in ("written", "xattr"):
            assert os.stat(mnt / name).st_ino == ino[name]
    finally:
        util.umount(mnt)

    for name in ("written", "xattr"):
        assert snapshot(lower / name) == before[name], "the lower file changed"
        lo, up = os.lstat(lower / name), os.lstat(upper / name)
        assert (up.st_mode, up.st_uid, up.st_gid, up.st_size) == \
            (lo.st_mode, lo.st_uid, lo.st_gid, SIZE)
        # XFS lists its ACLs also as trusted.SGI_ACL_*: only an XFS upper may have them.
        want = dict(xattrs(lower / name), **({"user.new": b"new"} if name == "xattr" else {}))
        got = xattrs(upper / name)
        if upper_kind != "xfs":
            assert not set(got) & set(SGI_ACL), "XFS's raw ACL copied as an xattr"
        assert strip(got) == strip(want)
        assert "user:1000:rw-" in getfacl(lower / name)
        assert getfacl(upper / name) == getfacl(lower / name)
        assert data_ranges(upper / name) == holes, "holes were filled"
        assert up.st_blocks * 512 < MIB
    up = os.lstat(upper / "xattr")
    assert (up.st_atime_ns, up.st_mtime_ns) == TIMES
    want = content()
    for path in (lower / "written", lower / "xattr", upper / "xattr"):
        with open(path, "rb") as f:
            assert f.read() == want, path
    want[100:102] = b"XY"
    with open(upper / "written", "rb") as f:
        assert f.read() == want
    assert os.lstat(upper / "written").st_mtime_ns > TIMES[1]
    if upper_kind == lower_kind and upper_kind in ("xfs", "btrfs"):
        assert all_shared(upper / "xattr"), "same-filesystem copy-up did not reflink"
