"""Layer stacks for the rustaufs behaviour tests, in aufs and overlayfs formats.

A layer is described by a spec dict (the same keys as util.make_tree, plus whiteouts,
opaque markers and special files):

    {"f": "text",              # regular file (str or bytes)
     "d/": {...},              # directory
     "l@": "target",           # symlink
     "x": WH,                  # whiteout of x (hides x on lower layers)
     OPQ: True,                # (inside a dir spec) the directory is opaque
     "p": FIFO, "c": Chr(1, 3)}

`Stack(root, [top_spec, ..., bottom_spec])` writes the layers as root/a<i> in aufs format
(`.wh.<name>` files, `.wh..wh..opq`) and, on request, as root/o<i> in overlayfs format
(0/0 char devices, trusted.overlay.opaque=y). `model(specs)` computes what the union must
show: {name: Node} with dirs merged, top-down, whiteouts and opaque dirs applied.

Option strings get long (127 branches through mount(2) must fit in one page of mount data;
fsconfig(2) takes at most 255 bytes per value), so the `root` fixture gives each test a short
alias path for its layers: a symlink in /tmp to `scratch`. /proc/mounts shows the resolved
paths (os.path.realpath).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import stat
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# --------------------------------------------------------------------------------------------
# Spec language.


class _Whiteout:
    def __repr__(self):
        return "WH"


WH = _Whiteout()
OPQ = "\0opaque"  # a key no file name can have
FIFO = "\0fifo"


@dataclass(frozen=True)
class Chr:
    major: int
    minor: int


AUFS_WH = ".wh."
AUFS_OPQ = ".wh..wh..opq"


@dataclass
class Node:
    """One visible entry of the model: kind is 'f', 'd', 'l', 'p' or 'c'."""

    kind: str
    data: object = None  # bytes for 'f', target for 'l', Chr for 'c', dict of Node for 'd'
    layer: int = -1  # the layer the entry (for dirs: the top-most part) comes from


def _split_key(key: str) -> tuple[str, str]:
    if key.endswith("/"):
        return key[:-1], "d"
    if key.endswith("@"):
        return key[:-1], "l"
    return key, "f"


def _entries(spec: dict):
    """(name, kind, value) for each entry of a dir spec; kind 'w' for whiteouts."""
    for key, val in spec.items():
        if key == OPQ:
            continue
        name, kind = _split_key(key)
        if val is WH:
            kind = "w"
        elif kind == "f" and val == FIFO:
            kind = "p"
        elif kind == "f" and isinstance(val, Chr):
            kind = "c"
        yield name, kind, val


def _get(spec: dict, name: str):
    """(kind, value) of name in a dir spec, or (None, None)."""
    for n, kind, val in _entries(spec):
        if n == name:
            return kind, val
    return None, None


def _chain(dirs: list[tuple[int, dict]], name: str, start: int) -> list[tuple[int, dict]]:
    """The dir parts merged for `name`, whose top-most part is dirs[start]."""
    idx, top = dirs[start]
    _, spec = _get(top, name)
    out = [(idx, spec)]
    if OPQ in spec:
        return out
    for idx, d in dirs[start + 1:]:
        kind, val = _get(d, name)
        if kind is None:
            continue
        if kind != "d":  # a whiteout or a non-directory ends the merge
            break
        out.append((idx, val))
        if OPQ in val:
            break
    return out


def merge(dirs: list[tuple[int, dict]]) -> dict[str, Node]:
    """Visible entries of a directory made of `dirs` (layer index, spec), top first."""
    out: dict[str, Node] = {}
    decided: set[str] = set()
    for pos, (idx, d) in enumerate(dirs):
        for name, kind, val in _entries(d):
            if kind == "w" or name in decided:
                continue
            decided.add(name)
            if kind == "d":
                out[name] = Node("d", merge(_chain(dirs, name, pos)), idx)
            elif kind == "f":
                out[name] = Node("f", val.encode() if isinstance(val, str) else val, idx)
            elif kind == "l":
                out[name] = Node("l", val, idx)
            else:
                out[name] = Node(kind, val, idx)
        # A whiteout hides the name on lower layers only, so it counts after this layer.
        decided.update(name for name, kind, _ in _entries(d) if kind == "w")
    return out


def model(specs: list[dict]) -> dict[str, Node]:
    """What the union of `specs` (top first) shows at its root."""
    return merge(list(enumerate(specs)))


def model_flat(specs: list[dict]) -> dict[str, Node]:
    """The model as {relative path: Node} for every visible entry (dirs included)."""
    out = {}

    def walk(tree, prefix):
        for name, node in tree.items():
            rel = prefix + name
            out[rel] = node
            if node.kind == "d":
                walk(node.data, rel + "/")

    walk(model(specs), "")
    return out


def random_specs(n: int, seed: int, names: str = "abcdefgh", depth: int = 3) -> list[dict]:
    """n layer specs drawn at random over a small name pool, so that names collide across
    layers: files over dirs, dirs over files, whiteouts, opaque dirs, symlinks, fifos."""
    import random
    rnd = random.Random(seed)

    def gen(level):
        spec = {}
        for name in names:
            r = rnd.random()
            if r < 0.45:
                continue
            if r < 0.65:
                spec[name] = f"{name}@{level}:{rnd.randrange(1000)}"
            elif r < 0.82 and level < depth:
                sub = gen(level + 1)
                if rnd.random() < 0.15:
                    sub[OPQ] = True
                spec[name + "/"] = sub
            elif r < 0.92:
                spec[name] = WH
            elif r < 0.96:
                spec[name + "@"] = rnd.choice(["a", "../b", "nowhere", "/"])
            else:
                spec[name] = FIFO
        return spec

    return [gen(0) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# Writing layers.


def _write_entry(path: Path, kind: str, val):
    if kind == "f":
        path.write_bytes(val.encode() if isinstance(val, str) else val)
    elif kind == "l":
        os.symlink(val, path)
    elif kind == "p":
        os.mkfifo(path, 0o644)
    elif kind == "c":
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(val.major, val.minor))
    else:
        raise ValueError(kind)


def write_aufs(path: Path, spec: dict):
    """Write one layer's dir spec in aufs format at `path` (created if missing)."""
    path.mkdir(mode=0o755, exist_ok=True)
    os.chmod(path, 0o755)
    if spec.get(OPQ):
        (path / AUFS_OPQ).write_bytes(b"")
    for name, kind, val in _entries(spec):
        if kind == "w":
            (path / (AUFS_WH + name)).write_bytes(b"")
        elif kind == "d":
            write_aufs(path / name, val)
        else:
            _write_entry(path / name, kind, val)


def write_overlay(layers: list[Path], specs: list[dict], rel: str = ""):
    """Write all layers in overlayfs format.

    A whiteout is written only where its directory merges with a lower one: there overlayfs
    hides it (as aufs does), while in a directory that merges with nothing overlayfs would
    list the 0/0 device. Such a whiteout hides nothing, so leaving it out changes nothing.
    """
    dirs = [(i, s) for i, s in enumerate(specs)]
    _write_overlay_dir(layers, dirs, rel)


def _write_overlay_dir(layers, dirs, rel):
    merged = len(dirs) > 1
    for pos, (idx, d) in enumerate(dirs):
        path = layers[idx] / rel if rel else layers[idx]
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(path, 0o755)
        if d.get(OPQ):
            os.setxattr(path, "trusted.overlay.opaque", b"y")
        for name, kind, val in _entries(d):
            if kind == "w":
                if merged and pos < len(dirs) - 1:
                    os.mknod(path / name, stat.S_IFCHR | 0o000, os.makedev(0, 0))
            elif kind == "d":
                pass  # written below, once per merge chain
            else:
                _write_entry(path / name, kind, val)
    # Directories: each one is written with the chain it merges with, so the "merged" test
    # above sees the right neighbours. A dir part that is hidden (below a whiteout or a
    # non-dir) is written on its own chain of one.
    done: set[tuple[int, str]] = set()
    for pos, (idx, d) in enumerate(dirs):
        for name, kind, val in _entries(d):
            if kind != "d" or (idx, name) in done:
                continue
            chain = _chain(dirs, name, pos)
            done.update((i, name) for i, _ in chain)
            _write_overlay_dir(layers, chain, f"{rel}/{name}" if rel else name)


# --------------------------------------------------------------------------------------------
# Stacks and mounts.


class Stack:
    """N layers (top first) under `root`, in aufs format (and overlay format on demand).

    Layer i is root/<name><i>; with `roots` (one dir per layer, e.g. on different
    filesystems) it is roots[i]/<name><i>.
    """

    def __init__(self, root: Path | str | None, specs: list[dict], name: str = "a",
                 roots: list | None = None):
        self.roots = [Path(r) for r in roots] if roots else [Path(root)] * len(specs)
        assert len(self.roots) == len(specs)
        self.root = self.roots[0]
        self.specs = specs
        self.name = name
        self.dirs = [r / f"{name}{i}" for i, r in enumerate(self.roots)]
        for d, s in zip(self.dirs, specs):
            write_aufs(d, s)
        self._ovl: list[Path] | None = None

    @classmethod
    def existing(cls, dirs: list) -> "Stack":
        """A stack of branch dirs that already exist (nothing is written; no overlay copy)."""
        st = cls.__new__(cls)
        st.dirs = [Path(d) for d in dirs]
        st.roots = [d.parent for d in st.dirs]
        st.root = st.roots[0]
        st.specs = [{} for _ in st.dirs]
        st.name = None
        st._ovl = None
        return st

    def __len__(self):
        return len(self.specs)

    @property
    def ovl_dirs(self) -> list[Path]:
        """The same layers in overlayfs format (at least two: overlayfs needs two lowers)."""
        if self._ovl is None:
            specs = list(self.specs)
            roots = list(self.roots)
            if len(specs) == 1:
                specs.append({})
                roots.append(roots[0])
            dirs = [r / f"o{self.name}{i}" for i, r in enumerate(roots)]
            write_overlay(dirs, specs)
            self._ovl = dirs
        return self._ovl

    def branches(self, perms=None) -> list[tuple[str, str | None]]:
        if perms is None:
            perms = [None] * len(self.dirs)
        elif isinstance(perms, str):
            perms = [perms] * len(self.dirs)
        return [(str(d), p) for d, p in zip(self.dirs, perms)]

    def br(self, perms=None) -> str:
        """The `br=` option for this stack."""
        return "br=" + ":".join(p if perm is None else f"{p}={perm}"
                                for p, perm in self.branches(perms))

    @contextlib.contextmanager
    def mounted(self, mnt, perms=None, extra: str = ""):
        import util
        mnt = Path(mnt)
        util.mount_union(str(mnt), self.branches(perms), extra)
        try:
            yield mnt
        finally:
            util.umount(str(mnt))

    @contextlib.contextmanager
    def overlay(self, mnt):
        """Mount the overlay-format layers read-only (lowerdir only) at mnt."""
        import util
        mnt = Path(mnt)
        mnt.mkdir(exist_ok=True)
        util.mount_overlay(str(mnt), [str(d) for d in self.ovl_dirs])
        try:
            yield mnt
        finally:
            util.umount(str(mnt))

    def model(self) -> dict[str, Node]:
        return model(self.specs)

    def flat(self) -> dict[str, Node]:
        return model_flat(self.specs)


@contextlib.contextmanager
def short_alias(path: Path | str):
    """A short path (symlink in /tmp) that resolves to `path`; removed afterwards."""
    tmp = "/tmp" if os.access("/tmp", os.W_OK) else tempfile.gettempdir()
    for _ in range(100):
        link = Path(tmp) / f"ra{os.getpid() % 1000}{os.urandom(3).hex()}"
        try:
            os.symlink(path, link)
            break
        except FileExistsError:
            continue
    try:
        yield link
    finally:
        link.unlink()


@pytest.fixture
def root(scratch):
    """`scratch` under a short alias path: the layers of a test go here."""
    with short_alias(scratch) as link:
        yield link


@pytest.fixture
def mnt(mnt):
    """conftest's mount point as a pathlib.Path (it gives a util.Dir, a str)."""
    return Path(mnt)


@pytest.fixture
def mnt2(scratch):
    """A second mount point (the `mnt` fixture gives the first)."""
    p = Path(scratch) / "mnt2"
    p.mkdir()
    return p


# --------------------------------------------------------------------------------------------
# Looking at a mounted tree.


def snapshot(top: Path | str, with_ino: bool = False) -> dict[str, tuple]:
    """{relative path: (kind, content)} of everything under `top` (kind as in Node).

    Files give their bytes, symlinks their target, devices their rdev, dirs None. With
    with_ino, each value ends with lstat's st_ino.
    """
    top = str(top)
    out = {}

    def walk(d, prefix):
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            st = os.lstat(p)
            rel = prefix + name
            if stat.S_ISDIR(st.st_mode):
                v = ("d", None)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    v = ("f", f.read())
            elif stat.S_ISLNK(st.st_mode):
                v = ("l", os.readlink(p))
            elif stat.S_ISFIFO(st.st_mode):
                v = ("p", None)
            elif stat.S_ISCHR(st.st_mode):
                v = ("c", Chr(os.major(st.st_rdev), os.minor(st.st_rdev)))
            else:
                v = ("?", st.st_mode)
            if with_ino:
                v = v + (st.st_ino,)
            out[rel] = v
            if v[0] == "d":
                walk(p, rel + "/")

    walk(top, "")
    return out


def expected_snapshot(specs: list[dict]) -> dict[str, tuple]:
    """snapshot() of a correct union of `specs`."""
    out = {}
    for rel, node in model_flat(specs).items():
        if node.kind == "d":
            out[rel] = ("d", None)
        elif node.kind == "p":
            out[rel] = ("p", None)
        else:
            out[rel] = (node.kind, node.data)
    return out


def err_of(fn, *args, **kw) -> int:
    """The errno fn raises (0 if it returns)."""
    try:
        fn(*args, **kw)
    except OSError as e:
        return e.errno
    return 0


def proc_mount(target: Path | str) -> tuple[str, str, str, list[str]] | None:
    """(source, mountpoint, fstype, options) of the last mount at target in /proc/mounts."""
    target = os.path.realpath(target)
    found = None
    with open("/proc/mounts") as f:
        for line in f:
            src, mp, fstype, opts = line.split()[:4]
            mp = mp.replace("\\040", " ")
            if mp == target:
                found = (src, mp, fstype, opts.split(","))
    return found


# --------------------------------------------------------------------------------------------
# Syscalls Python doesn't wrap.

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long

MNT_DETACH = 2
MS_RDONLY = 1
MS_BIND = 4096

_SYS_GETDENTS64 = {"x86_64": 217, "aarch64": 61, "riscv64": 61}[os.uname().machine]
_SYS_DELETE_MODULE = {"x86_64": 176, "aarch64": 106, "riscv64": 106}[os.uname().machine]


def sys_mount(source: str, target, fstype: str, flags: int = 0, data: str | None = None) -> int:
    """mount(2): 0 or the errno."""
    r = _libc.mount(source.encode(), os.fsencode(str(target)), fstype.encode(), flags,
                    data.encode() if data is not None else None)
    return 0 if r == 0 else ctypes.get_errno()


def sys_umount(target, flags: int = 0) -> int:
    """umount2(2): 0 or the errno."""
    r = _libc.umount2(os.fsencode(str(target)), flags)
    return 0 if r == 0 else ctypes.get_errno()


def delete_module(name: str, flags: int = os.O_NONBLOCK) -> int:
    """delete_module(2): 0 or the errno."""
    r = _libc.syscall(_SYS_DELETE_MODULE, ctypes.c_char_p(name.encode()), ctypes.c_uint(flags))
    return 0 if r == 0 else ctypes.get_errno()


@dataclass
class Dirent:
    ino: int
    off: int
    type: int
    name: str


DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 1, 2, 4, 6, 8, 10, 12
DT_OF_MODE = {stat.S_IFIFO: DT_FIFO, stat.S_IFCHR: DT_CHR, stat.S_IFDIR: DT_DIR,
              stat.S_IFBLK: DT_BLK, stat.S_IFREG: DT_REG, stat.S_IFLNK: DT_LNK,
              stat.S_IFSOCK: DT_SOCK}


def getdents(fd: int, bufsize: int = 32768) -> list[Dirent]:
    """One getdents64(2) call on fd: its entries ([] at the end). Raises OSError."""
    buf = ctypes.create_string_buffer(bufsize)
    n = _libc.syscall(_SYS_GETDENTS64, ctypes.c_int(fd), buf, ctypes.c_uint(bufsize))
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    raw = buf.raw[:n]
    out = []
    pos = 0
    while pos < n:
        ino, off, reclen, typ = struct.unpack_from("<QqHB", raw, pos)
        name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
        out.append(Dirent(ino, off, typ, os.fsdecode(name)))
        pos += reclen
    return out


def read_dir(fd: int, bufsize: int = 32768) -> list[Dirent]:
    """All remaining entries of the open directory fd, read with getdents64 of bufsize."""
    out = []
    while True:
        batch = getdents(fd, bufsize)
        if not batch:
            return out
        out.extend(batch)


def list_dir(path, bufsize: int = 32768) -> list[Dirent]:
    """Every entry of directory path, '.' and '..' included."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return read_dir(fd, bufsize)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------
# Kernel state.


def drop_caches():
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


def wait_live_zero(timeout: float = 10.0) -> dict:
    """Poll util.live_objects() until every count is 0 (frees may be RCU-deferred)."""
    import util
    deadline = time.monotonic() + timeout
    while True:
        live = util.live_objects()
        if not any(live.values()) or time.monotonic() > deadline:
            return live
        time.sleep(0.1)


class Kmsg:
    """New kernel log lines since construction (reads /dev/kmsg non-blocking)."""

    def __init__(self):
        try:
            self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.fd = None

    def lines(self) -> list[str]:
        out = []
        if self.fd is None:
            return out
        while True:
            try:
                rec = os.read(self.fd, 8192)
            except BlockingIOError:
                break
            except OSError as e:
                if e.errno == errno.EPIPE:  # overwritten records: keep reading
                    continue
                raise
            if not rec:
                break
            out.append(rec.decode(errors="replace").split(";", 1)[-1].rstrip("\n"))
        return out

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


BAD_KMSG = ("Busy inodes", "BUG:", "WARNING:", "KASAN", "kmemleak", "refcount_t",
            "general protection", "Oops")


def bad_kmsg(lines: list[str]) -> list[str]:
    return [l for l in lines if any(b in l for b in BAD_KMSG)]


# --------------------------------------------------------------------------------------------
# Branch filesystems of their own (for tests that unmount a branch fs afterwards).


def _mkfs(kind: str, image: Path):
    cmd = {"ext4": ["mkfs.ext4", "-q", "-F"], "xfs": ["mkfs.xfs", "-q", "-f"],
           "btrfs": ["mkfs.btrfs", "-q", "-f"]}[kind]
    subprocess.run(cmd + [str(image)], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def sb_sysfs(mp: Path | str, kind: str) -> Path | None:
    """The /sys/fs/<kind>/<dev> dir that exists while the superblock at mp is alive (ext4,
    xfs), or None for kinds that have none."""
    if kind not in ("ext4", "xfs"):
        return None
    dev = os.stat(mp).st_dev
    name = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"))
    return Path("/sys/fs") / kind / name


def wait_gone(path: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@contextlib.contextmanager
def own_fs(where: Path, kind: str):
    """A filesystem of its own mounted at where/<kind>: a tmpfs, or a loop-mounted image.

    Skips the test when the mkfs tool is missing. Yields the mount point; at the end it
    is unmounted (lazily if the test left it busy: the test has failed then anyway).
    """
    where = Path(where)
    mp = where / f"fs-{kind}"
    mp.mkdir()
    if kind == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256m", "tmpfs", str(mp)], check=True)
    else:
        image = where / f"{kind}.img"
        with open(image, "wb") as f:
            f.truncate(512 << 20)
        try:
            _mkfs(kind, image)
        except FileNotFoundError:
            pytest.skip(f"no mkfs for {kind}")
        subprocess.run(["mount", "-o", "loop", "-t", kind, str(image), str(mp)], check=True)
    try:
        yield mp
    finally:
        if sys_umount(mp) != 0:
            sys_umount(mp, MNT_DETACH)
