"""Helpers for the rustaufs VM tests (run inside the test VM, as root).

Mounting:
  fsmount(options, fstype, target)  the new mount API (fsopen/fsconfig/fsmount/move_mount):
                                    exact errno plus the fs_context messages; never raises.
  mount(target, options, fstype)    mount(8); raises subprocess.CalledProcessError.
  umount(target)                    umount2(2); raises OSError.
  mount_union(target, branches, extra), mount_overlay(target, lowers, upper, work)
Trees: make_tree(root, spec), whiteout(dir, name, fmt), opaque(dir, fmt), listdir_sorted(path).
Other: run_as(uid, gid, fn), live_objects(), mounts(), rustaufs_mounts().
"""
import ctypes
import dataclasses
import errno as E
import os
import pickle
import stat
import subprocess
import traceback

RUSTAUFS = "rustaufs"
FS_KINDS = ("tmpfs", "ext4", "xfs", "btrfs")
OBJECTS = "/sys/kernel/debug/rustaufs/objects"
IN_VM = os.environ.get("RUSTAUFS_VM") == "1"

# Branch-list options: their value may follow ':' as well as '='.
BRANCH_KEYS = ("br", "dirs", "add", "ins", "append", "prepend", "del", "mod")

# <linux/mount.h>
SYS_move_mount, SYS_fsopen, SYS_fsconfig, SYS_fsmount = 429, 430, 431, 432
FSOPEN_CLOEXEC = FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG, FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 0, 1, 6
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.umount2.argtypes = (ctypes.c_char_p, ctypes.c_int)


def _syscall(nr, *args):
    """Calls syscall `nr`; returns (result, errno), errno 0 on success."""
    ctypes.set_errno(0)
    ret = _libc.syscall(ctypes.c_long(nr), *args)
    return ret, (ctypes.get_errno() if ret < 0 else 0)


def _cstr(s):
    return None if s is None else os.fsencode(s)


class Dir(str):
    """A path that is a str (f-strings, os.*, subprocess) and joins with `/` like pathlib."""

    def __truediv__(self, name):
        return Dir(os.path.join(self, os.fspath(name)))


@dataclasses.dataclass
class MountResult:
    errno: int                  # 0 when every step succeeded
    messages: list              # fs_context log lines, e.g. "e rustaufs: br: /x: No such file..."
    target: str = None          # where the mount was attached, if it was
    step: str = ""              # the call that failed: fsopen, fsconfig KEY, create, fsmount, move_mount

    @property
    def ok(self):
        return self.errno == 0


def split_options(options):
    """'a=1,br:/x=rw:/y,flag' -> [('a','1'), ('br','/x=rw:/y'), ('flag', None)].

    Each item splits at its first '=' or ':' (whichever comes first); lists pass through."""
    if not isinstance(options, str):
        return list(options)
    out = []
    for item in filter(None, options.split(",")):
        cut = min((i for i in (item.find("="), item.find(":")) if i >= 0), default=-1)
        out.append((item, None) if cut < 0 else (item[:cut], item[cut + 1:]))
    return out


def _read_messages(fd):
    """Drains the fs_context log of `fd` (one message per read, ENODATA at the end)."""
    lines = []
    while True:
        try:
            buf = os.read(fd, 8192)
        except OSError:
            return lines
        if not buf:
            return lines
        lines += buf.decode(errors="replace").rstrip("\n").split("\n")


def fsmount(options, fstype=RUSTAUFS, target=None, attrs=0):
    """Mounts through fsopen/fsconfig/fsmount (+ move_mount to `target` if given).

    `options` is a str ('br=/a=rw:/b,udba=none') or a list of (key, value|None); a None
    value is a flag. Without `target` the new mount is made and then dropped (closing the
    mount fd unmounts it). Returns MountResult; never raises on a mount failure."""
    fd, err = _syscall(SYS_fsopen, _cstr(fstype), ctypes.c_uint(FSOPEN_CLOEXEC))
    if err:
        return MountResult(err, [], None, "fsopen")
    try:
        for key, value in split_options(options):
            if value is None:
                _, err = _syscall(SYS_fsconfig, ctypes.c_int(fd), ctypes.c_uint(FSCONFIG_SET_FLAG),
                                  _cstr(key), None, ctypes.c_int(0))
            else:
                _, err = _syscall(SYS_fsconfig, ctypes.c_int(fd),
                                  ctypes.c_uint(FSCONFIG_SET_STRING), _cstr(key),
                                  _cstr(value), ctypes.c_int(0))
            if err:
                return MountResult(err, _read_messages(fd), None, f"fsconfig {key}")
        _, err = _syscall(SYS_fsconfig, ctypes.c_int(fd), ctypes.c_uint(FSCONFIG_CMD_CREATE),
                          None, None, ctypes.c_int(0))
        if err:
            return MountResult(err, _read_messages(fd), None, "create")
        mfd, err = _syscall(SYS_fsmount, ctypes.c_int(fd), ctypes.c_uint(FSMOUNT_CLOEXEC),
                            ctypes.c_uint(attrs))
        if err:
            return MountResult(err, _read_messages(fd), None, "fsmount")
        try:
            if target is not None:
                _, err = _syscall(SYS_move_mount, ctypes.c_int(mfd), b"", ctypes.c_int(AT_FDCWD),
                                  _cstr(target), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
                if err:
                    return MountResult(err, _read_messages(fd), None, "move_mount")
        finally:
            os.close(mfd)
        return MountResult(0, _read_messages(fd), None if target is None else str(target))
    finally:
        os.close(fd)


class MountError(subprocess.CalledProcessError):
    """A CalledProcessError whose message includes mount(8)'s stderr."""

    def __str__(self):
        return f"{super().__str__()}: {(self.stderr or '').strip()}"


def mount(target, options, fstype=RUSTAUFS, source="none"):
    """`mount -t FSTYPE -o OPTIONS none TARGET`; raises MountError, a CalledProcessError."""
    cmd = ["mount", "-t", fstype] + (["-o", options] if options else []) + [source, str(target)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise MountError(p.returncode, cmd, p.stdout, p.stderr)


def umount(target, lazy=False):
    """umount2(TARGET); raises OSError with the exact errno."""
    if _libc.umount2(os.fsencode(target), MNT_DETACH if lazy else 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), str(target))


def mount_union(target, branches, extra=""):
    """Mounts rustaufs at `target` with br=path[=perm]:... (top first), plus `extra` options."""
    br = ":".join(str(p) if perm is None else f"{p}={perm}" for p, perm in branches)
    mount(target, f"br={br}" + (f",{extra}" if extra else ""))


def mount_overlay(target, lowers, upper=None, work=None):
    """Mounts overlayfs with the same layers (`lowers` top first). Without `work`, a work
    dir is made next to `upper` (same filesystem, as overlayfs requires)."""
    opts = "lowerdir=" + ":".join(map(str, lowers))
    if upper is not None:
        if work is None:
            work = os.path.join(os.path.dirname(os.path.abspath(upper)),
                                "." + os.path.basename(upper) + ".work")
            os.makedirs(work, exist_ok=True)
        opts += f",upperdir={upper},workdir={work}"
    mount(target, opts, "overlay", source="overlay")


def make_tree(root, spec):
    """Creates `spec` under `root`: {"file": "text" | b"bytes", "dir/": {...} | None,
    "link@": "target"}; names may contain '/' (parents are created)."""
    for name, value in spec.items():
        if name.endswith("/"):
            path = os.path.join(root, name[:-1])
            os.makedirs(path, exist_ok=True)
            make_tree(path, value or {})
            continue
        link = name.endswith("@")
        path = os.path.join(root, name[:-1] if link else name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if link:
            os.symlink(value, path)
        else:
            with open(path, "wb") as f:
                f.write(value.encode() if isinstance(value, str) else value)


def whiteout(dir, name, fmt="aufs"):
    """Hides `name` of lower branches: aufs `.wh.NAME` (empty file) or an overlay 0/0 chardev."""
    if fmt == "aufs":
        open(os.path.join(dir, ".wh." + name), "wb").close()
    elif fmt == "overlay":
        os.mknod(os.path.join(dir, name), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    else:
        raise ValueError(fmt)


def opaque(dir, fmt="aufs"):
    """Makes `dir` opaque: aufs `.wh..wh..opq`, or overlay's trusted.overlay.opaque=y."""
    if fmt == "aufs":
        open(os.path.join(dir, ".wh..wh..opq"), "wb").close()
    elif fmt == "overlay":
        os.setxattr(dir, "trusted.overlay.opaque", b"y")
    else:
        raise ValueError(fmt)


def listdir_sorted(path):
    return sorted(os.listdir(path))


def run_as(uid, gid, fn):
    """Runs fn() in a child with all uids = `uid`, gids = `gid`, no supplementary groups.

    Returns fn()'s result (pickled through a pipe) or, if fn raised OSError, its errno.
    Any other exception in the child is raised here as RuntimeError with its traceback."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                res = ("ok", fn())
            except OSError as e:
                res = ("errno", e.errno)
            data = pickle.dumps(res)
        except BaseException:
            data = pickle.dumps(("exc", traceback.format_exc()))
        finally:
            try:
                with os.fdopen(w, "wb") as f:
                    f.write(data)
            finally:
                os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "exc":
        raise RuntimeError(f"run_as({uid}, {gid}) child failed:\n{value}")
    return value


def live_objects():
    """rustaufs's live-object counters from debugfs: {name: count}; {} if not there."""
    try:
        with open(OBJECTS) as f:
            return {n: int(c) for n, c in (line.split() for line in f if line.strip())}
    except FileNotFoundError:
        return {}


def _unescape(field):
    """Undoes the octal escapes of /proc/self/mountinfo (space = \\040, ...)."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode(errors="replace")


def mounts():
    """[(mount point, fs type, super options)] from /proc/self/mountinfo, in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fstype, _src, sopts = (right.split() + [""])[:3]
            out.append((_unescape(left.split()[4]), fstype, sopts))
    return out


def rustaufs_mounts():
    return [m for m, fstype, _ in mounts() if fstype == RUSTAUFS]


def mounts_under(*dirs):
    """Mount points at or below any of `dirs`, most recent first (safe unmount order)."""
    roots = [os.path.realpath(d) for d in dirs]
    return [m for m, _, _ in reversed(mounts())
            if any(m == r or m.startswith(r.rstrip("/") + "/") for r in roots)]


def unmount_all(*dirs):
    """Unmounts everything at or below `dirs`. Returns the mount points that were busy
    (those were detached lazily)."""
    busy = []
    for m in mounts_under(*dirs):
        try:
            umount(m)
        except OSError as e:
            if e.errno == E.EBUSY:
                busy.append(m)
                umount(m, lazy=True)
            elif e.errno not in (E.EINVAL, E.ENOENT):   # already gone with a parent
                raise
    return busy
