"""On CPU hosts, let glibc's malloc keep freed memory for the next training step.

Every compiled XLA step on the CPU allocates its temporary buffers and frees
them when it ends: gigabytes for Gemma 3's 262,144-entry vocabulary. glibc
serves each allocation above 32 MB with a fresh `mmap` and gives it back with
`munmap`, so every step writes into gigabytes of never-touched 4 KiB pages,
one page fault each. Measured on the 2-core AMD EPYC of 2026-12-06 (a
virtual machine; JAX 0.10.2): a LoRA SFT step of the Gemma 3 270M (batch 8 x
128, `kerasalign align --quick`'s settings) took about 1.3 million page
faults, and a jitted softmax over 512 x 262,144 logits spent 1.0 of its 1.3 s
in them.

`GLIBC_TUNABLES` can tell glibc to serve large blocks from its main heap and
keep what is freed there (`TUNABLES` below: one arena for every thread, no
`mmap` for large blocks, no trimming of the heap's top, and transparent huge
pages for the heap where the kernel offers them, so that it grows with fewer
faults; glibc older than 2.35 ignores that one). The next step then
reuses pages it already has: the softmax above ran in 0.31 s, the SFT step in
11.0-11.4 s instead of 14.7-14.8 s (median of four steps, two runs each;
10.6-11.5 s in one run with the huge pages too), and the stages of
`kerasalign align --quick` in 26m52s and 27m42s instead of 29m16s (SFT and
DPO gain, the reward model, whose blocks are smaller, does not). The price
is memory: the heap keeps its largest size, and peak RSS of that SFT run rose
from 7.5 to 10.3 GB.

glibc reads `GLIBC_TUNABLES` only when a process starts. So the `kerasalign`
command starts itself again, once, with the variable set (`restart_command`),
when all of these hold:

- Linux with glibc;
- no accelerator device files (`/dev/nvidia*`, `/dev/accel*`, `/dev/kfd`):
  there the large buffers live on the device;
- at least `MIN_MEMORY_BYTES` (16 GiB) of physical memory, since the heap
  keeps its largest size;
- `GLIBC_TUNABLES` is not set: your settings win;
- `KERASALIGN_CPU_MALLOC` is not `0` (set it to `0` to keep glibc's defaults,
  e.g. when memory is tighter than time).

In your own Python program, set the variable before Python starts:

    GLIBC_TUNABLES=$(python -m kerasalign.cpu_malloc) python train.py

Examples:

>>> TUNABLES.split(":")[0]
'glibc.malloc.arena_max=1'
>>> cpu_host = {"platform": "linux", "has_glibc": True, "accelerators": [],
...             "memory_bytes": 24 * 2**30}
>>> should_apply({}, **cpu_host)
True
>>> should_apply({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, **cpu_host)
False
>>> should_apply({}, **{**cpu_host, "accelerators": ["/dev/nvidia0"]})
False
"""

import glob
import os
import platform as platform_module
import sys

ENV_SWITCH = "KERASALIGN_CPU_MALLOC"
# One arena (the main heap, grown with brk) for every thread, backed by
# transparent huge pages where available; no mmap for large blocks, so they
# come from that heap; and the heap's free top is never handed back (64 GiB
# threshold).
TUNABLES = ":".join(
    [
        "glibc.malloc.arena_max=1",
        "glibc.malloc.hugetlb=1",
        "glibc.malloc.mmap_max=0",
        f"glibc.malloc.trim_threshold={64 * 2**30}",
    ]
)
MIN_MEMORY_BYTES = 16 * 2**30
ACCELERATOR_DEVICE_PATTERNS = ("/dev/nvidia[0-9]*", "/dev/accel*", "/dev/kfd")


def accelerator_devices():
    """Device files of GPUs or TPUs on this host (empty on a CPU-only host)."""
    return sorted(path for pattern in ACCELERATOR_DEVICE_PATTERNS for path in glob.glob(pattern))


def _has_glibc():
    return platform_module.libc_ver()[0] == "glibc"


def physical_memory_bytes():
    """The host's physical memory (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def should_apply(
    environ=None, *, platform=None, has_glibc=None, accelerators=None, memory_bytes=None
):
    """Whether the `kerasalign` command should restart with `TUNABLES` set.

    The keyword arguments stand in for the host's facts (tests); each
    defaults to this host's.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    if environ.get(ENV_SWITCH, "1") == "0" or "GLIBC_TUNABLES" in environ:
        return False
    if not (_has_glibc() if has_glibc is None else has_glibc):
        return False
    memory = physical_memory_bytes() if memory_bytes is None else memory_bytes
    if memory < MIN_MEMORY_BYTES:
        return False
    return not (accelerator_devices() if accelerators is None else accelerators)


def restart_command(environ=None, execve=None):
    """Start this process again with `TUNABLES` set, when `should_apply`.

    Call it first thing in a program's entry point: `os.execve` replaces the
    process (same interpreter, same command line from `sys.orig_argv`), so
    nothing before it survives. Returns `False` when it does not restart.
    """
    environ = dict(os.environ if environ is None else environ)
    if not should_apply(environ):
        return False
    if not sys.executable or not sys.orig_argv:
        return False
    environ["GLIBC_TUNABLES"] = TUNABLES
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        (execve or os.execve)(sys.executable, list(sys.orig_argv), environ)
    except OSError:
        return False  # run on with glibc's defaults
    return True


if __name__ == "__main__":
    print(TUNABLES)
