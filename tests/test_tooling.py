"""The project's own tooling: the benches import in a venv without the test tools."""

import subprocess
import sys

from tests.serving import ROOT_DIR


def test_bench_modules_import_without_pytest_or_hypothesis():
    blocked = "import sys; sys.modules.update(pytest=None, hypothesis=None, _pytest=None); "
    for module in ("bench.__main__", "bench.load", "bench.grid", "bench.sweep", "bench.latency", "bench.landscape"):
        done = subprocess.run([sys.executable, "-c", blocked + f"import {module}"], check=False, cwd=ROOT_DIR,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{module}: {done.stderr[-500:]}"
