"""The project's own tooling: the benches import in a venv without the test tools."""

import subprocess
import sys

from tests.serving import ROOT_DIR


def test_bench_modules_import_without_pytest_or_hypothesis():
    blocked = "import sys; sys.modules.update(pytest=None, hypothesis=None, _pytest=None); "
    modules = ("bench.__main__", "bench.load", "bench.grid", "bench.sweep", "bench.latency", "bench.landscape",
               "bench.browser", "bench.jobs")
    done = subprocess.run([sys.executable, "-c", blocked + "; ".join(f"import {m}" for m in modules)], check=False,
                          cwd=ROOT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-800:]
