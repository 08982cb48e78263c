"""The kerasalign command restarts with glibc told to use huge pages (CPU hosts)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kerasalign import cpu_malloc
from kerasalign.cpu_malloc import ENV_SWITCH, TUNABLES, restart_command, should_apply

CPU_LINUX = {"platform": "linux", "has_glibc": True, "accelerators": []}


def test_applies_on_a_cpu_only_linux_host_with_glibc():
    assert should_apply({}, **CPU_LINUX)


@pytest.mark.parametrize(
    "environ, overrides",
    [
        ({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}, {}),  # the user's own settings win
        ({ENV_SWITCH: "0"}, {}),  # switched off
        ({}, {"platform": "darwin"}),
        ({}, {"has_glibc": False}),  # e.g. musl
        ({}, {"accelerators": ["/dev/nvidia0"]}),
        ({}, {"accelerators": ["/dev/accel0"]}),
    ],
)
def test_does_not_apply(environ, overrides):
    assert not should_apply(environ, **{**CPU_LINUX, **overrides})


def test_restart_runs_the_same_command_with_the_tunables(monkeypatch):
    monkeypatch.setattr(cpu_malloc, "accelerator_devices", lambda: [])
    monkeypatch.setattr(cpu_malloc, "_has_glibc", lambda: True)
    monkeypatch.setattr(sys, "platform", "linux")
    calls = []
    environ = {"PATH": "/usr/bin"}
    assert restart_command(environ, execve=lambda *args: calls.append(args))
    (executable, argv, env), = calls
    assert executable == sys.executable
    assert argv == list(sys.orig_argv)
    assert env == {"PATH": "/usr/bin", "GLIBC_TUNABLES": TUNABLES}
    # The caller's mapping is not changed, and a restarted process does not restart again.
    assert environ == {"PATH": "/usr/bin"}
    assert not restart_command(env, execve=lambda *args: calls.append(args))
    assert len(calls) == 1


def test_module_prints_the_tunables():
    completed = subprocess.run(
        [sys.executable, "-m", "kerasalign.cpu_malloc"], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == TUNABLES


@pytest.mark.skipif(not should_apply({}), reason="needs a CPU-only Linux host with glibc")
def test_the_kerasalign_command_runs_with_the_tunables():
    environ = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", ENV_SWITCH)}
    completed = subprocess.run(
        [sys.executable, "-m", "kerasalign.cli.main", "info", "--json"],
        capture_output=True, text=True, env=environ, check=True,
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1])["glibc_tunables"] == TUNABLES
    environ[ENV_SWITCH] = "0"
    completed = subprocess.run(
        [sys.executable, "-m", "kerasalign.cli.main", "info", "--json"],
        capture_output=True, text=True, env=environ, check=True,
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1])["glibc_tunables"] == ""


PAGE_FAULTS = textwrap.dedent(
    """
    import resource
    import jax, jax.numpy as jnp

    @jax.jit
    def step(x):
        # Like a training step: temporaries of 2 x 256 MiB, freed at the end.
        e = jnp.exp(x - 1.0)
        return jnp.sum(e * jnp.sum(e, axis=1, keepdims=True), axis=1)

    x = jnp.ones((256, 2**18), jnp.float32)
    step(x).block_until_ready()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        step(x).block_until_ready()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3)
    """
)


def page_faults_per_step(tunables):
    environ = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if tunables:
        environ["GLIBC_TUNABLES"] = tunables
    completed = subprocess.run(
        [sys.executable, "-c", PAGE_FAULTS], capture_output=True, text=True, env=environ, check=True
    )
    return float(completed.stdout.strip().splitlines()[-1])


def transparent_huge_pages_available():
    path = "/sys/kernel/mm/transparent_hugepage/enabled"
    if not os.path.exists(path):
        return False
    with open(path) as settings:
        return "[never]" not in settings.read()


@pytest.mark.skipif(
    not (should_apply({}) and transparent_huge_pages_available()),
    reason="needs a CPU-only Linux host with glibc and transparent huge pages",
)
def test_with_the_tunables_a_compiled_step_faults_in_far_fewer_pages():
    """256 MiB of temporaries are 65,536 pages of 4 KiB: with glibc's defaults a
    JAX step faults in fresh ones each call (on this machine ~197,000 per call),
    with huge pages one fault maps 512 of them (~9,100 per call)."""
    assert page_faults_per_step(TUNABLES) < 0.2 * page_faults_per_step("")
