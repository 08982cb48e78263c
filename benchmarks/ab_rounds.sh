#!/usr/bin/env bash
# Alternating A/B rounds of a code change: after, before, after, before, so that
# machine noise hits both sides alike. Source it from a script that defines:
#   BASE   the commit whose version of FILES is "before"
#   FILES  the files the change touched (space-separated paths from the repo root)
#   OUT    a folder for the logs; status.txt and a "finished" mark go there too
#   bench  a function run once per round, from the repo root, with the round's
#          label (after1, before1, after2, before2)
# The working tree's FILES are left as HEAD has them.
# Example: benchmarks/results-cpu-avx512/tf-fused-cross-entropy/ab.sh
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p "$OUT"
before() { for f in $FILES; do git show "$BASE:$f" > "$f"; done; }
after() { git checkout HEAD -- $FILES; }
after; bench after1
before; bench before1
after; bench after2
before; bench before2
after
git status --short > "$OUT/status.txt"
echo done > "$OUT/finished"
