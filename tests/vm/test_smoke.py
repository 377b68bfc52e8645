"""Smoke tests: the module is loaded and one union works; plus self-checks of the harness
(util.py, the fixtures, the VM layout), which use no rustaufs at all."""
import errno
import os
import subprocess

import pytest

import util


def filesystems():
    with open("/proc/filesystems") as f:
        return [line.split()[-1] for line in f]


def fstype_of(path):
    """The type of the filesystem `path` is on (the deepest mount point above it)."""
    path = os.path.realpath(path)
    best = max((m for m, _, _ in util.mounts()
                if path == m or path.startswith(m.rstrip("/") + "/")), key=len)
    return next(t for m, t, _ in reversed(util.mounts()) if m == best)


# ---------------------------------------------------------------- rustaufs


def test_module_loaded():
    assert util.RUSTAUFS in filesystems()


def test_merge_two_tmpfs_dirs(scratch, mnt):
    util.make_tree(scratch, {"a/": {"one": "1", "same": "from a", "d/": {"x": ""}},
                             "b/": {"two": "2", "same": "from b", "d/": {"y": ""}}})
    util.mount_union(mnt, [(scratch / "a", None), (scratch / "b", None)])
    try:
        assert util.listdir_sorted(mnt) == ["d", "one", "same", "two"]
        assert util.listdir_sorted(mnt / "d") == ["x", "y"]
        with open(mnt / "same") as f:
            assert f.read() == "from a"
        assert util.RUSTAUFS in [t for m, t, _ in util.mounts() if m == mnt]
    finally:
        util.umount(mnt)
    assert os.listdir(mnt) == []


def test_fsmount_api(scratch, mnt):
    util.make_tree(scratch, {"a/": {"one": ""}, "b/": {"two": ""}})
    r = util.fsmount(f"br:{scratch / 'a'}=rw:{scratch / 'b'}=ro", target=mnt)
    assert r.errno == 0, r
    util.umount(mnt)
    r = util.fsmount(f"br={scratch}/nonexistent")
    assert r.errno != 0 and r.messages, r


# ---------------------------------------------------------------- harness self-checks


def test_vm_environment():
    """Errors outside the VM (where conftest skips it anyway): the layout tests rely on."""
    assert util.IN_VM, "RUSTAUFS_VM=1 is not set: not inside the rustaufs test VM"
    assert fstype_of("/") == "9p"
    assert os.statvfs("/").f_flag & os.ST_RDONLY
    for d in ("/tmp", "/root", "/run", "/var/tmp", "/dev/shm"):
        assert fstype_of(d) == "tmpfs", d
    for kind, var in (("ext4", "RUSTAUFS_EXT4"), ("xfs", "RUSTAUFS_XFS"),
                      ("btrfs", "RUSTAUFS_BTRFS")):
        assert fstype_of(os.environ[var]) == kind
    assert os.path.isdir(os.environ["RUSTAUFS_OUT"])


@pytest.mark.parametrize("kind", util.FS_KINDS)
def test_fsdir(fsdir, kind):
    d = fsdir(kind)
    assert os.listdir(d) == [] and fstype_of(d) == kind
    util.make_tree(d, {"f": "x", "sub/": {"g": b"\0"}, "l@": "f"})
    assert util.listdir_sorted(d) == ["f", "l", "sub"] and os.readlink(d / "l") == "f"


def test_fsmount_errors(mnt):
    r = util.fsmount("bogus_option=1", fstype="tmpfs")
    assert (r.errno, r.step) == (errno.EINVAL, "fsconfig bogus_option")
    assert any(m.startswith("e tmpfs:") and "bogus_option" in m for m in r.messages), r
    assert util.fsmount("", fstype="no_such_fs").errno == errno.ENODEV
    r = util.fsmount("size=1m,noswap", fstype="tmpfs", target=mnt)
    assert r.ok and r.target == mnt, r
    assert util.fsmount("mode=0700", fstype="tmpfs").ok      # detached, dropped at once
    util.umount(mnt)


def test_split_options():
    assert util.split_options("br:/a=rw:/b,udba=none,noxino,create=mfs:60") == [
        ("br", "/a=rw:/b"), ("udba", "none"), ("noxino", None), ("create", "mfs:60")]
    assert util.split_options("br=/a:/b,add:1:/c") == [("br", "/a:/b"), ("add", "1:/c")]


def test_overlay_whiteout_opaque(scratch, mnt):
    util.make_tree(scratch, {"low/": {"gone": "", "kept": "", "d/": {"hidden": ""}},
                             "up/": {"d/": {}}, "up2/": {}})
    util.whiteout(scratch / "up", "gone", fmt="overlay")
    util.opaque(scratch / "up" / "d", fmt="overlay")
    util.mount_overlay(mnt, [scratch / "up", scratch / "low"])
    assert util.listdir_sorted(mnt) == ["d", "kept"] and os.listdir(mnt / "d") == []
    util.umount(mnt)
    util.whiteout(scratch / "up2", "kept")
    util.opaque(scratch / "up2")
    assert util.listdir_sorted(scratch / "up2") == [".wh..wh..opq", ".wh.kept"]
    util.mount_overlay(mnt, [scratch / "low"], upper=scratch / "up2")
    with open(mnt / "new", "w"):
        pass
    assert os.path.exists(scratch / "up2" / "new")
    # Left mounted on purpose: the scratch fixture unmounts it.


def test_mount_failure_raises(mnt):
    with pytest.raises(subprocess.CalledProcessError):
        util.mount(mnt, "bogus_option", fstype="tmpfs")


def test_run_as(scratch):
    os.chmod(scratch, 0o700)
    assert util.run_as(1000, 1000, os.getuid) == 1000
    assert util.run_as(1000, 1000, lambda: os.listdir(scratch)) == errno.EACCES
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        util.run_as(1000, 1000, lambda: 1 / 0)


def test_live_objects_format():
    objects = util.live_objects()
    assert all(isinstance(n, str) and isinstance(c, int) for n, c in objects.items())
