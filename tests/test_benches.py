"""Every bench still runs: ``python -m bench NAME --smoke`` runs the bench's own code path on its
tiniest inputs and checks the numbers it would report (bench/smoke.py), so a bench that no longer
runs, or reports nonsense, fails here. Speed itself is never asserted: that is what the benches print.
"""

import subprocess
import sys

import pytest

from bench.__main__ import COMMANDS
from tests.serving import ROOT_DIR

# A smoke run takes 1-20 s on an idle 2-core machine (bench/README.md); the limit leaves room for a
# busy one and stops a bench that ignores --smoke and starts its full run.
TIMEOUT_S = 180


pytestmark = pytest.mark.bench


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.browser] if name == "browser" else [])
                                  for name in COMMANDS])  # (each its own scope: tests/conftest.py)
def test_the_bench_runs_in_smoke_mode(name):
    done = subprocess.run([sys.executable, "-m", "bench", name, "--smoke"], cwd=ROOT_DIR, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)
    assert done.returncode == 0, (f"bench {name} --smoke exited with {done.returncode}\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    assert f"bench {name} --smoke: ran" in done.stdout
