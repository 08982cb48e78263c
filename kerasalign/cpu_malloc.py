"""On CPU hosts, let glibc back large blocks with transparent huge pages.

Every compiled XLA step on the CPU allocates its temporary buffers and frees
them when it ends: gigabytes for Gemma 3's 262,144-entry vocabulary. glibc
serves each allocation above 32 MB with a fresh `mmap` and gives it back with
`munmap`, so every step writes into gigabytes of never-touched 4 KiB pages,
one page fault each. Measured on the 2-core AMD EPYC of 2026-12-06 (a
virtual machine; JAX 0.10.2): a LoRA SFT step of the Gemma 3 270M (batch 8 x
128, `kerasalign align --quick`'s settings) took about 1.3 million page
faults, and a jitted softmax over 512 x 262,144 logits spent 1.0 of its 1.3 s
in them.

`GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (glibc 2.35 and newer; older ones
ignore it) makes glibc ask the kernel for transparent huge pages
(`madvise(MADV_HUGEPAGE)`) on the blocks it maps: a 2 MiB page faults in
once instead of 512 times, and the block still goes back to the kernel when
it is freed. Measured on a 2-core AMD EPYC with AVX-512 (2026-12-06, late
night; a jitted step with 2 x 256 MiB of temporaries): 196,626 page faults
and 0.42-0.79 s per step with glibc's defaults, 9,089 and 0.10-0.11 s with
`hugetlb=1`.

The first version of this module (2026-12-06) also kept freed memory in the
heap (`arena_max=1`, `mmap_max=0`, a 64 GiB `trim_threshold`): one fault-free
heap, 0.07-0.11 s on the step above, but a heap that never shrinks. On a
full `kerasalign align` run (all the data, sequences bucketed up to 256
tokens) it grew past the 24 GiB of the machine during the second SFT epoch
and the kernel killed the run; with `hugetlb=1` alone the same run stays at
the size glibc's defaults give (see docs/runs/align_full_gemma3_270m/
contrastive_data).

glibc reads `GLIBC_TUNABLES` only when a process starts. So the `kerasalign`
command starts itself again, once, with the variable set (`restart_command`),
when all of these hold:

- Linux with glibc;
- no accelerator device files (`/dev/nvidia*`, `/dev/accel*`, `/dev/kfd`):
  there the large buffers live on the device;
- `GLIBC_TUNABLES` is not set: your settings win;
- `KERASALIGN_CPU_MALLOC` is not `0` (set it to `0` to keep glibc's
  defaults).

Where the kernel's transparent huge pages are off
(`/sys/kernel/mm/transparent_hugepage/enabled` says `[never]`), the setting
changes nothing. In your own Python program, set the variable before Python
starts:

    GLIBC_TUNABLES=$(python -m kerasalign.cpu_malloc) python train.py

Examples:

>>> TUNABLES
'glibc.malloc.hugetlb=1'
>>> cpu_host = {"platform": "linux", "has_glibc": True, "accelerators": []}
>>> should_apply({}, **cpu_host)
True
>>> should_apply({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, **cpu_host)
False
>>> should_apply({}, **{**cpu_host, "accelerators": ["/dev/nvidia0"]})
False
"""

import glob
import os
import platform as platform_module
import sys

ENV_SWITCH = "KERASALIGN_CPU_MALLOC"
# Transparent huge pages for the blocks glibc maps (and its heap); blocks are
# still unmapped when freed, so memory is given back as with the defaults.
TUNABLES = "glibc.malloc.hugetlb=1"
ACCELERATOR_DEVICE_PATTERNS = ("/dev/nvidia[0-9]*", "/dev/accel*", "/dev/kfd")


def accelerator_devices():
    """Device files of GPUs or TPUs on this host (empty on a CPU-only host)."""
    return sorted(path for pattern in ACCELERATOR_DEVICE_PATTERNS for path in glob.glob(pattern))


def _has_glibc():
    return platform_module.libc_ver()[0] == "glibc"


def should_apply(environ=None, *, platform=None, has_glibc=None, accelerators=None):
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
