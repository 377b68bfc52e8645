"""Fixtures of the rustaufs VM tests (`make check` runs them inside the test VM).

  scratch   a fresh empty dir on tmpfs (util.Dir: a str that also joins with `/`); at
            teardown every mount under it is unmounted (lazily if busy: that is an error)
  fsdir     factory: fsdir(kind) -> fresh dir on "tmpfs" | "ext4" | "xfs" | "btrfs"
  mnt       a fresh empty mount point inside scratch
After every test (autouse): no rustaufs mount may be left, and the debugfs live-object
counters (if the module has them) must be back to 0 once no rustaufs mount remains.
Outside the VM (no RUSTAUFS_VM=1) every test is skipped: they mount things as root.
"""
import os
import shutil
import signal
import tempfile
import time

import pytest

import util

SCRATCH_DISKS = {"ext4": "RUSTAUFS_EXT4", "xfs": "RUSTAUFS_XFS", "btrfs": "RUSTAUFS_BTRFS"}
TEST_TIMEOUT = int(os.environ.get("RUSTAUFS_TEST_TIMEOUT", "600"))


def pytest_report_header(config):
    if not util.IN_VM:
        return "rustaufs: not inside the test VM: all tests are skipped"
    return f"rustaufs: kernel {os.uname().release}, live objects {util.live_objects() or 'n/a'}"


def pytest_collection_modifyitems(config, items):
    if util.IN_VM:
        return
    skip = pytest.mark.skip(reason="needs the rustaufs test VM (make check)")
    for item in items:
        item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fails a test that runs longer than RUSTAUFS_TEST_TIMEOUT seconds (if it is
    interruptible: a task stuck in the kernel shows up as a hung-task splat instead)."""
    def expired(signum, frame):
        pytest.fail(f"test timed out after {TEST_TIMEOUT} s", pytrace=True)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _cleanup(dirs, what):
    """Unmounts everything under `dirs`; fails the test if a mount was busy."""
    busy = util.unmount_all(*dirs)
    if busy:
        pytest.fail(f"{what}: busy mounts at teardown (detached lazily): {busy}", pytrace=False)


@pytest.fixture
def scratch():
    path = util.Dir(tempfile.mkdtemp(prefix="scratch-", dir="/tmp"))
    yield path
    try:
        _cleanup([path], "scratch")
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fsdir(scratch):
    """fsdir(kind) -> a fresh empty dir on that filesystem; skips if the VM lacks the disk."""
    made = []

    def make(kind="tmpfs"):
        if kind == "tmpfs":
            base = scratch
        else:
            base = os.environ.get(SCRATCH_DISKS.get(kind, ""), "")
            if not base or not os.path.ismount(base):
                pytest.skip(f"no {kind} scratch disk")
        path = util.Dir(tempfile.mkdtemp(prefix=f"{kind}-", dir=base))
        made.append(path)
        return path

    yield make
    try:
        _cleanup([scratch] + made, "fsdir")
    finally:
        for path in made:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mnt(scratch):
    return util.Dir(tempfile.mkdtemp(prefix="mnt-", dir=scratch))


# Counters that stayed up after an earlier failure: later tests compare against these,
# so that one leak is reported once, not by every test that follows.
_leak_baseline = {}


@pytest.fixture(autouse=True)
def _no_leftovers():
    yield
    left = util.rustaufs_mounts()
    for m in reversed(left):
        try:
            util.umount(m, lazy=True)
        except OSError:
            pass
    objects = util.live_objects()
    deadline = time.monotonic() + 10       # inodes and dentries are freed after RCU grace
    while objects and time.monotonic() < deadline and _leaked(objects):
        time.sleep(0.2)
        objects = util.live_objects()
    leaked = _leaked(objects)
    _leak_baseline.update(leaked)
    problems = []
    if left:
        problems.append(f"rustaufs mounts left after the test (detached): {left}")
    if leaked:
        problems.append(f"rustaufs live objects after the last umount: {leaked}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def _leaked(objects):
    """Counters above 0 and not already reported."""
    return {n: c for n, c in objects.items() if c != 0 and c != _leak_baseline.get(n)}
