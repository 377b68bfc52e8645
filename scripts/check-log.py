#!/usr/bin/env python3
"""Scans VM logs for kernel splats; prints each with context; exits 1 if any.

usage: check-log.py FILE...   (the saved dmesg, the console log, the kmemleak report)

In a console log only kernel lines (`[  12.345678] ...`) are scanned, so pytest output that
happens to say "WARNING:" is not a splat. A splat seen in several files is printed once.
Missing files are skipped: the guest may have died before writing them.
"""
import re
import sys

PATTERNS = [
    r"BUG:", r"WARNING:", r"\bOops\b", r"general protection fault", r"Kernel panic",
    # lockdep
    r"possible circular locking", r"inconsistent lock state", r"possible recursive locking",
    r"suspicious RCU usage", r"lock held when returning",
    r"KASAN", r"UBSAN", r"unreferenced object",          # sanitizers, kmemleak
    r"refcount_t:", r"list_add corruption", r"list_del corruption", r"list corruption",
    r"rust_panic", r"panicked at",
    r"hung_task", r"blocked for more than", r"soft lockup",
    r"unexpected fh type",                               # exportfs: a bad encode_fh result
]
SPLAT = re.compile("|".join(PATTERNS))
# Lines that match a pattern but report nothing (the command line has hung_task_panic=1).
IGNORE = re.compile(r"Kernel command line:|Command line:|Unknown kernel command line")
STAMP = re.compile(r"^\[\s*\d+\.\d+\]")      # printk time prefix (CONFIG_PRINTK_TIME)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BEFORE, AFTER = 3, 40                       # context lines around a report
MAX_LINES = 300                             # per report, after merging overlapping ones


def kernel_lines(path):
    """The lines of `path` to scan: all of them, or only kernel lines of a console log."""
    with open(path, "rb") as f:
        lines = [ANSI.sub("", l.decode("utf-8", "replace")).rstrip("\r\n")
                 for l in f.read().split(b"\n")]
    if any(STAMP.match(l) for l in lines):
        # Serial console output can start a kernel line in the middle of a user line.
        lines = [l[m.start():] for l in lines if (m := re.search(r"\[\s*\d+\.\d+\]", l))]
    return lines


def is_splat(line):
    return SPLAT.search(line) and not IGNORE.search(line)


def reports(lines):
    """Yields (first, last) line ranges, one per splat, overlapping ones merged."""
    hits = [i for i, l in enumerate(lines) if is_splat(l)]
    start = end = None
    for i in hits:
        if end is not None and i <= end:
            end = min(len(lines) - 1, max(end, i + AFTER))
            continue
        if start is not None:
            yield start, end
        start, end = max(0, i - BEFORE), min(len(lines) - 1, i + AFTER)
    if start is not None:
        yield start, end


def main(paths):
    seen = set()
    count = 0
    for path in paths:
        try:
            lines = kernel_lines(path)
        except FileNotFoundError:
            continue
        for first, last in reports(lines):
            hit = next(l for l in lines[first:last + 1] if is_splat(l))
            if hit in seen:     # the same splat in the console log and in dmesg
                continue
            seen.update(l for l in lines[first:last + 1] if is_splat(l))
            count += 1
            print(f"==== kernel log: {hit.strip()}  ({path}:{first + 1})", file=sys.stderr)
            shown = lines[first:min(last + 1, first + MAX_LINES)]
            print("\n".join(shown), file=sys.stderr)
            if last + 1 - first > len(shown):
                print(f"... {last + 1 - first - len(shown)} more lines in {path}", file=sys.stderr)
    if count:
        print(f"==== check-log: {count} kernel report(s) in {', '.join(paths)}", file=sys.stderr)
        return 1
    print("check-log: no kernel splats", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
