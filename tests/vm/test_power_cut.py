"""What a power cut in the middle of a 256 MiB copy-up left on an ext4 write branch.

The cut itself happened in the first boot of this run (tests/vm/power_cut.py, killed by
vm.sh with SIGKILL to qemu). Here, as after a real reboot: the journal is replayed by
mounting, the branch fscks clean, and the union shows `big` either as it was (the lower
file) or as the interrupted write made it (copied up, b"NEW!" at offset 0) — never a
partial copy. The temporary copy the cut left in the work dir is gone once the union
has been mounted, and the lower branch is unchanged.
"""
import json
import os
import subprocess

import pytest

import util
from power_cut import BLOCK, MIB, NEW, OUT, SIZE, WORK, block, device


def e2fsck(dev):
    r = subprocess.run(["e2fsck", "-fn", dev], capture_output=True, text=True)
    assert r.returncode == 0, f"e2fsck -fn {dev}: exit {r.returncode}\n{r.stdout}{r.stderr}"


def leftovers(work):
    return {n: os.lstat(os.path.join(work, n)).st_size for n in os.listdir(work)}


def test_power_cut_during_copy_up(scratch):
    dev = device()
    if dev is None:
        pytest.skip("no power-cut disk: vm.sh ran without the power-cut boot (POWERCUT=0 "
                    "or PYTEST_ARGS not selecting test_power_cut)")
    with open(os.path.join(OUT, "state.json")) as f:
        state = json.load(f)
    assert "error" not in state, f"the power-cut boot failed: {state}"
    with open(os.path.join(OUT, "host")) as f:
        host = f.read().strip()
    assert host.startswith("killed"), f"vm.sh did not cut the power: {host}"
    print("power cut:", state, host)

    disk = scratch / "disk"
    os.mkdir(disk)
    # The journal is replayed by the mount, as at boot; then the fs must be clean.
    subprocess.run(["mount", "-t", "ext4", dev, disk], check=True)
    work = os.path.join(disk, "upper", WORK)
    left = leftovers(work)
    up = os.path.join(disk, "upper", "big")
    upper_size = os.lstat(up).st_size if os.path.lexists(up) else None
    print("after the cut: temporaries in the work dir", left, "upper/big", upper_size)
    util.umount(disk)
    e2fsck(dev)

    subprocess.run(["mount", "-t", "ext4", dev, disk], check=True)
    union = os.path.join(disk, "union")
    util.mount_union(union, [(f"{disk}/upper", "rw"), (f"{disk}/lower", "ro")])
    try:
        assert leftovers(work) == {}, "the union mount leaves the crash's temporaries"
        assert util.listdir_sorted(union) == ["big"]
        st = os.stat(os.path.join(union, "big"))
        assert st.st_size == SIZE
        first = None
        with open(os.path.join(union, "big"), "rb") as u, \
                open(os.path.join(disk, "lower", "big"), "rb") as lo:
            for mib in range(SIZE // MIB):
                want = block(mib)
                got, low = u.read(MIB), lo.read(MIB)
                assert low == want, f"the lower file changed in MiB {mib}"
                if mib == 0:
                    first, got, want = got[:len(NEW)], got[len(NEW):], want[len(NEW):]
                if got != want:
                    bad = next(i for i in range(0, MIB, BLOCK) if got[i:i + BLOCK] != want[i:i + BLOCK])
                    pytest.fail(f"partial copy: the union's big differs at byte {mib * MIB + bad}")
        assert first in (block(0)[:len(NEW)], NEW)
        if first == NEW:
            assert os.path.exists(up), "new content without an upper file"
        print("the union shows the", "new" if first == NEW else "old", "file")
    finally:
        util.umount(union)
        util.umount(disk)
    e2fsck(dev)
