"""A union exported by knfsd (NFSv3 over loopback in the VM) and mounted by the kernel's
NFS client: reads, writes that copy up, removals that leave whiteouts, inode numbers,
file handles decoded after the server's caches were dropped, and a merged directory read
in many READDIR calls resumed from cookies.

The daemons are nfs-utils' (rpcbind, rpc.mountd, rpc.nfsd, exportfs; installed by
scripts/setup-host.sh), started for each test and stopped after it, so nfsd holds nothing
of the union when the test unmounts it.
"""
import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import util
from layers import WH, Stack, drop_caches, getdents, mnt, root  # noqa: F401  (fixtures)

NFS_STATE = Path("/var/lib/nfs")
NFSD_FS = Path("/proc/fs/nfsd")


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"{cmd}: rc {p.returncode}: {p.stderr.strip()}"
    return p.stdout


def quiet(*cmd):
    """Runs a teardown step; its failure is not the test's."""
    subprocess.run(cmd, capture_output=True, timeout=60)


def unmount_quietly(target):
    try:
        util.umount(target)
    except OSError:
        pass


@contextlib.contextmanager
def nfs_exported(path: Path, client: Path, fsid: int = 77, extra: str = ""):
    """knfsd exporting `path` (rw, fsid=`fsid`: a union has no block device), mounted
    over NFSv3 at `client` with attribute and lookup caching off (and `extra` options)."""
    for tool in ("rpcbind", "rpc.mountd", "rpc.nfsd", "exportfs", "mount.nfs"):
        assert shutil.which(tool), f"{tool} missing: scripts/setup-host.sh installs nfs-kernel-server"
    started = []
    try:
        util.mount(NFS_STATE, None, "tmpfs", "tmpfs")          # the root is read-only
        started.append(lambda: unmount_quietly(NFS_STATE))
        for f in ("etab", "rmtab"):
            (NFS_STATE / f).touch()
        util.mount(NFSD_FS, None, "nfsd", "nfsd")
        started.append(lambda: unmount_quietly(NFSD_FS))
        run("rpcbind")
        started.append(lambda: quiet("pkill", "-x", "rpcbind"))
        run("exportfs", "-i", "-o",
            f"rw,sync,no_root_squash,no_subtree_check,fsid={fsid}", f"127.0.0.1:{path}")
        started.append(lambda: (quiet("exportfs", "-ua"), quiet("exportfs", "-f")))
        run("rpc.mountd", "-N", "4")
        started.append(lambda: quiet("pkill", "-x", "rpc.mountd"))
        run("rpc.nfsd", "-N", "4", "2")
        started.append(lambda: quiet("rpc.nfsd", "0"))
        client.mkdir(exist_ok=True)
        util.mount(client, "vers=3,proto=tcp,nolock,noac,lookupcache=none" + extra, "nfs",
                   f"127.0.0.1:{path}")
        started.append(lambda: unmount_quietly(client))
        yield client
    finally:
        for undo in reversed(started):
            undo()
        time.sleep(0.2)                                # nfsd threads exit asynchronously


def test_nfs_read_write_remove(root, mnt):
    st = Stack(root, [{"u": "upper"}, {"f": "lower f", "g": "lower g", "d/": {"x": "x"}}])
    lower = {p.name: p.read_bytes() for p in st.dirs[1].iterdir() if p.is_file()}
    with st.mounted(mnt, ["rw", "ro"]):
        with nfs_exported(mnt, root / "nfs") as nfs:
            assert (nfs / "f").read_text() == "lower f"
            assert (nfs / "u").read_text() == "upper"
            assert sorted(os.listdir(nfs)) == sorted(os.listdir(mnt)) == ["d", "f", "g", "u"]
            ino = os.stat(mnt / "f").st_ino
            assert os.stat(nfs / "f").st_ino == ino            # NFS fileid = union st_ino

            with open(nfs / "f", "a") as w:                    # copy-up, through nfsd
                w.write("+nfs")
            assert (mnt / "f").read_text() == "lower f+nfs"
            assert (st.dirs[0] / "f").read_text() == "lower f+nfs"
            assert os.stat(nfs / "f").st_ino == os.stat(mnt / "f").st_ino == ino

            fd = os.open(nfs / "d" / "x", os.O_RDONLY)         # the client keeps x's handle
            try:
                drop_caches()                                  # the server decodes it anew
                assert os.pread(fd, 100, 0) == b"x"
            finally:
                os.close(fd)

            os.unlink(nfs / "g")                               # lower-only: whiteout
            assert (st.dirs[0] / ".wh.g").exists() and not (mnt / "g").exists()
            (nfs / "d" / "new").write_text("made over nfs")
            assert (st.dirs[0] / "d" / "new").read_text() == "made over nfs"
            os.mkdir(nfs / "e")
            assert (st.dirs[0] / "e").is_dir()
            assert sorted(os.listdir(nfs)) == sorted(os.listdir(mnt)) == ["d", "e", "f", "u"]
    assert {p.name: p.read_bytes() for p in st.dirs[1].iterdir() if p.is_file()} == lower


def readdir_calls():
    """READDIR + READDIRPLUS calls the NFSv3 client has made so far."""
    for line in Path("/proc/net/rpc/nfs").read_text().splitlines():
        if line.startswith("proc3 "):
            counts = [int(n) for n in line.split()[2:]]
            return counts[16] + counts[17]
    raise AssertionError("no proc3 line in /proc/net/rpc/nfs")


def test_nfs_readdir_of_merged_dir(root, mnt):
    """600 names over two branches with whiteouts: the client (4 KiB per call) reads
    them in many READDIRPLUS calls, each resumed from the cookie of the last, and across
    the server dropping its caches; every visible name comes once."""
    long = "n" * 40
    upper = {f"{long}u{i:03d}": "u" for i in range(300)}
    upper.update({f"{long}l{i:03d}": WH for i in range(0, 300, 10)})   # 30 hidden
    lower = {f"{long}l{i:03d}": "l" for i in range(300)}
    lower.update({f"{long}u{i:03d}": "lu" for i in range(0, 300, 3)})  # shadowed
    st = Stack(root, [{"d/": upper}, {"d/": lower}])
    with st.mounted(mnt, ["rw", "ro"]):
        want = sorted(os.listdir(mnt / "d"))
        assert len(want) == 600 - 30
        with nfs_exported(mnt, root / "nfs", extra=",rsize=4096") as nfs:
            for drop_at in (None, 200):        # the second time, drop caches midway too
                drop_caches()                      # the listing comes from the server
                calls = readdir_calls()
                got = []
                fd = os.open(nfs / "d", os.O_RDONLY | os.O_DIRECTORY)
                try:
                    while batch := getdents(fd, 2048):
                        got += [e for e in batch if e.name not in (".", "..")]
                        if drop_at and len(got) >= drop_at:
                            drop_caches()          # client pages, server dentries/inodes
                            drop_at = None
                finally:
                    os.close(fd)
                assert readdir_calls() - calls >= 10
                names = [e.name for e in got]
                assert len(names) == len(set(names)) and sorted(names) == want
                assert all(e.ino == os.stat(mnt / "d" / e.name).st_ino for e in got[::37])
            assert (nfs / "d" / f"{long}u003").read_text() == "u"
            assert (nfs / "d" / f"{long}l001").read_text() == "l"
