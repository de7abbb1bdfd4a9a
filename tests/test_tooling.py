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


def test_the_project_installs_as_a_package_with_its_command_and_api(tmp_path):
    """``pip install`` of the repository gives the ``descent-lab`` command and the Python API (here
    into a folder, without dependencies: they are this venv's), and the dashboard's assets."""
    import os

    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(ROOT_DIR)], check=False, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert (target / "dashboard" / "assets" / "descent.js").is_file() and (target / "app.py").is_file()
    env = {**os.environ, "PYTHONPATH": str(target)}
    command = target / "bin" / "descent-lab"
    shown = subprocess.run([sys.executable, str(command), "--help"], check=False, capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0 and "serve" in shown.stdout and "landscape" in shown.stdout
    run = subprocess.run([sys.executable, str(command), "run", "--epochs", "1"], check=False, capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 0 and run.stdout.splitlines()[1] == "0,6.0,-3.0,53.078269958496094"
    api = subprocess.run([sys.executable, "-c", "import compute.api, sys; print(compute.api.__file__)"], check=False,
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert api.returncode == 0 and api.stdout.startswith(str(target)), api.stderr[-500:]
