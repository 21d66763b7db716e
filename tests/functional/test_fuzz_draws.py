"""The fuzz tests draw the same requests in every run, whatever the hash seed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.functional]

# Draws 3 batches of each fuzz strategy under the fuzz settings and prints a digest.
DRAW = """
import hashlib
from hypothesis import given, strategies as st
from tests.functional import test_fuzz as fuzz

digest = hashlib.sha256()

def record(wires):
    for w in wires:
        if w is not None:
            digest.update(repr((w.method, w.path, sorted(w.headers.items()), w.body)).encode())

for strategy in (fuzz.random_wire(), fuzz.mutated_sdk_wire()):
    fuzz.FUZZ_SETTINGS(given(wires=st.lists(strategy, min_size=50, max_size=50))(record))()
print(digest.hexdigest())
"""


def _digest(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "WORKSHOP_FUZZ_EXAMPLES": "3"}
    env.pop("WORKSHOP_FUZZ_RANDOM", None)
    done = subprocess.run([sys.executable, "-c", DRAW], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=300, check=True)
    return done.stdout.strip()


def test_two_runs_with_different_hash_seeds_draw_the_same_requests():
    # given / when
    first, second = _digest("1"), _digest("2")
    # then
    assert len(first) == 64 and first == second
