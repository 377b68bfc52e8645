"""The power cut during a 256 MiB copy-up (first boot of `scripts/vm.sh check`).

vm.sh boots the VM once with MODE=powercut and only the ext4 disk "powercut" (formatted
on the host). Stage 2 runs `python3 tests/vm/power_cut.py cut`, which
  1. writes a 256 MiB file `lower/big` on that disk (every 4 KiB block stamped with its
     index, no zero blocks), syncs it and drops the caches,
  2. mounts `br=upper=rw:lower=ro` on it and starts a writer that writes b"NEW!" at
     offset 0 of the union's `big`: the first write copies the 256 MiB up,
  3. watches the temporary copy grow in the work dir `upper/.wh..wh.orph` and, once it
     holds CUT_AT bytes, creates `$RUSTAUFS_OUT/powercut/cut-now`: vm.sh polls for that
     file and kills qemu with SIGKILL, in the middle of the copy.
Nothing is unmounted or synced after step 1. The disk has cache=unsafe, but the host
does not crash: every write qemu completed is on the image, nothing else is, i.e. a disk
without a volatile cache losing power.

test_power_cut.py, in the second (normal) boot, checks what the cut left behind.
"""
import json
import os
import random
import subprocess
import sys
import time

SIZE = 256 << 20
BLOCK = 4096
MIB = 1 << 20
NEW = b"NEW!"
SERIAL = "powercut"
WORK = ".wh..wh.orph"
OUT = os.path.join(os.environ.get("RUSTAUFS_OUT", "/run/rustaufs/out"), "powercut")


def device():
    """The power-cut disk's device node, or None when vm.sh did not attach it."""
    for dev in sorted(os.listdir("/sys/block")):
        try:
            with open(f"/sys/block/{dev}/serial") as f:
                if f.read().strip() == SERIAL:
                    return f"/dev/{dev}"
        except OSError:
            pass
    return None


def block(mib):
    """MiB number `mib` of the lower file: each 4 KiB block starts with its index."""
    first = mib * (MIB // BLOCK)
    return b"".join((b"%015d\n" % (first + i)) * (BLOCK // 16) for i in range(MIB // BLOCK))


def note(**kw):
    """Adds `kw` to OUT/state.json (the results share: survives the cut)."""
    path = os.path.join(OUT, "state.json")
    state = {}
    if os.path.exists(path):
        with open(path) as f:
            state = json.load(f)
    state.update(kw)
    with open(path, "w") as f:
        json.dump(state, f)
    print("power-cut:", json.dumps(kw), flush=True)


def cut():
    os.makedirs(OUT, exist_ok=True)
    dev = device()
    if dev is None:
        sys.exit("power-cut: no disk with serial 'powercut'")
    disk = "/mnt/powercut"
    os.makedirs(disk, exist_ok=True)
    subprocess.run(["mount", "-t", "ext4", dev, disk], check=True)
    for d in ("lower", "upper", "union"):
        os.mkdir(os.path.join(disk, d))
    t = time.monotonic()
    fd = os.open(os.path.join(disk, "lower/big"), os.O_WRONLY | os.O_CREAT, 0o644)
    for mib in range(SIZE // MIB):
        os.write(fd, block(mib))
    os.fsync(fd)
    os.close(fd)
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")
    # Between 10% and 60%: qemu dies some milliseconds after the signal, and the copy
    # must still be running then.
    cut_at = random.randrange(SIZE // 10, SIZE * 6 // 10, BLOCK)
    note(device=dev, lower_written_s=round(time.monotonic() - t, 1), cut_at=cut_at)

    union = os.path.join(disk, "union")
    subprocess.run(["mount", "-t", "rustaufs", "-o",
                    f"br={disk}/upper=rw:{disk}/lower=ro", "none", union], check=True)
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(os.path.join(union, "big"), os.O_WRONLY)
            os.pwrite(fd, NEW, 0)
        finally:
            os._exit(0)
    work = os.path.join(disk, "upper", WORK)
    t = time.monotonic()
    seen = 0
    while time.monotonic() - t < 120:
        for name in os.listdir(work):
            try:
                seen = max(seen, os.stat(os.path.join(work, name)).st_size)
            except FileNotFoundError:
                pass
        if seen >= cut_at:
            break
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            note(error="the copy-up finished before the cut point", seen=seen)
            sys.exit(1)
        time.sleep(0.002)
    else:
        note(error="the copy did not reach the cut point in 120 s", seen=seen)
        sys.exit(1)
    note(signalled_at=seen, copy_s=round(time.monotonic() - t, 2))
    with open(os.path.join(OUT, "cut-now"), "w"):
        pass
    time.sleep(600)     # vm.sh kills qemu
    sys.exit("power-cut: not killed")


if __name__ == "__main__" and sys.argv[1:] == ["cut"]:
    cut()
