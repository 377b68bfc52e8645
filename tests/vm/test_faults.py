"""Revert on error: every multi-step change either completes or leaves the union as it
was, under ENOSPC (tiny tmpfs write branches) and under failslab fault injection
(each slab allocation of the operation fails in turn)."""

import errno
import os
import subprocess
from pathlib import Path

import pytest

import util
from layers import Stack, err_of, mnt, root, snapshot, write_aufs  # noqa: F401  (fixtures)

LOWER = {"f": "lower f", "big": "b" * (1 << 20), "d/": {"x": "x"}, "e/": {}, "w/": {},
         "full/": {"z": "z"}}
FAILSLAB = Path("/sys/kernel/debug/failslab")


def view(mnt):
    """What a user sees: names, types, sizes, modes and file contents."""
    return snapshot(mnt)


def append(path):
    """Appends one byte with write(2), so that its error is seen (not lost in close)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, b"+")
    finally:
        os.close(fd)


def internal_leftovers(rw):
    """Anything in the work dir, or a whiteout of a name the union should still show."""
    return sorted(os.listdir(rw / ".wh..wh.orph"))


@pytest.fixture
def tiny(root):
    """A write branch on a tmpfs of 64 KiB and 24 inodes, and a lower branch."""
    rw = root / "tiny"
    rw.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=24", "tmpfs", str(rw)], check=True)
    write_aufs(root / "lo", LOWER)
    st = Stack.existing([rw, root / "lo"])
    yield st
    subprocess.run(["umount", str(rw)], check=False)


def fill_inodes(d):
    """Uses up the free inodes of d's filesystem; returns how many it made."""
    n = 0
    while True:
        try:
            (d / f".fill{n}").touch()
        except OSError as e:
            assert e.errno == errno.ENOSPC
            return n
        n += 1


def test_copy_up_enospc_leaves_original(tiny, mnt):
    rw = tiny.dirs[0]
    with tiny.mounted(mnt, ["rw", "ro"]):
        before = view(mnt)
        assert err_of(append, mnt / "big") == errno.ENOSPC
        assert view(mnt) == before
        assert not (rw / "big").exists()
        assert internal_leftovers(rw) == []
        # A smaller copy-up still works afterwards.
        append(mnt / "f")
        assert (rw / "f").read_text() == "lower f+"


@pytest.mark.parametrize("op", ["unlink", "rmdir", "mkdir_over_whiteout", "rename", "create"])
def test_no_inodes_left(tiny, mnt, op):
    """With no free inode on the write branch (and nolwh, so whiteouts need one),
    each operation fails with ENOSPC and changes nothing."""
    rw = tiny.dirs[0]
    with tiny.mounted(mnt, ["rw+nolwh", "ro"]):
        if op == "mkdir_over_whiteout":
            os.rmdir(mnt / "e")
        os.makedirs(rw / "fill", exist_ok=True)
        fill_inodes(rw / "fill")
        before = view(mnt)
        fn = {
            "unlink": lambda: os.unlink(mnt / "f"),
            "rmdir": lambda: os.rmdir(mnt / "w"),
            "mkdir_over_whiteout": lambda: os.mkdir(mnt / "e"),
            "rename": lambda: os.rename(mnt / "f", mnt / "g"),
            "create": lambda: (mnt / "new").write_text("n"),
        }[op]
        assert err_of(fn) == errno.ENOSPC
        assert view(mnt) == before
        assert internal_leftovers(rw) == []


# --- failslab -----------------------------------------------------------------------------

OPS = {
    "append": lambda m: append(m / "f"),
    "truncate": lambda m: os.truncate(m / "big", 10),
    "chmod": lambda m: os.chmod(m / "d" / "x", 0o600),
    "unlink": lambda m: os.unlink(m / "f"),
    "rmdir": lambda m: os.rmdir(m / "e"),
    "mkdir_over_whiteout": lambda m: os.mkdir(m / "w"),
    "rename": lambda m: os.rename(m / "f", m / "d" / "g"),
    "rename_dir_over_emptied": lambda m: os.rename(m / "n", m / "full"),
    "create": lambda m: (m / "d" / "new").write_text("n"),
    "symlink": lambda m: os.symlink("f", m / "d" / "s"),
    "link": lambda m: os.link(m / "f", m / "d" / "l"),
}
SPACES = [0, 16, 64, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096, 8192, 16384]


def set_failslab(**kv):
    for k, v in kv.items():
        (FAILSLAB / k).write_text(str(v))


def run_failing(fn, mnt):
    """Runs fn(mnt) in a child whose slab allocations may fail; returns its errno or 0."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            Path("/proc/self/make-it-fail").write_text("1")
            try:
                fn(mnt)
            except OSError as e:
                code = e.errno or 255
            except BaseException:          # MemoryError and the like: a failure too
                code = 254
            Path("/proc/self/make-it-fail").write_text("0")
        finally:
            os.write(w, bytes([min(code, 255)]))
            os._exit(0)
    os.close(w)
    data = os.read(r, 1)
    os.close(r)
    os.waitpid(pid, 0)
    return data[0] if data else -1


@pytest.mark.parametrize("name", sorted(OPS))
def test_failslab_sweep(root, mnt, name):
    if not FAILSLAB.exists():
        pytest.skip("no failslab in this kernel")
    op = OPS[name]

    def prepare(tag):
        st = Stack(root, [{}, LOWER], name=tag)
        util.mount_union(str(mnt), st.branches(["rw", "ro"]))
        if name == "mkdir_over_whiteout":
            os.rmdir(mnt / "w")
        if name == "rename_dir_over_emptied":
            os.mkdir(mnt / "n")
            os.unlink(mnt / "full" / "z")
        return st

    st = prepare("ref")
    before = view(mnt)
    op(mnt)
    after = view(mnt)
    util.umount(str(mnt))
    set_failslab(probability=100, interval=1, times=1, verbose=0, **{"task-filter": "Y", "ignore-gfp-wait": "N"})
    failed = 0
    try:
        for i, space in enumerate(SPACES):
            st = prepare(f"s{i}")
            try:
                set_failslab(times=1, space=space)
                err = run_failing(op, mnt)
                set_failslab(times=0)
                got = view(mnt)
                if err:
                    failed += 1
                    assert got == before, (space, err)
                else:
                    assert got == after, space
                assert internal_leftovers(st.dirs[0]) == [], space
            finally:
                set_failslab(times=0)
                util.umount(str(mnt))
    finally:
        set_failslab(times=0, probability=0, space=0)
    # The sweep really injected failures (the first allocations always fail).
    assert failed > 0
