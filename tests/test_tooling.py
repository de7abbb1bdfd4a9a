"""The project's own tooling: the benches import in a venv without the test tools."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving import ROOT_DIR


def test_bench_modules_import_without_pytest_or_hypothesis():
    blocked = "import sys; sys.modules.update(pytest=None, hypothesis=None, _pytest=None); "
    modules = ("bench.__main__", "bench.load", "bench.grid", "bench.sweep", "bench.latency", "bench.landscape",
               "bench.browser", "bench.jobs")
    done = subprocess.run([sys.executable, "-c", blocked + "; ".join(f"import {m}" for m in modules)], check=False,
                          cwd=ROOT_DIR, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-800:]


@pytest.mark.hosting  # it serves: `make test`, not `make check`'s inner loop
def test_the_project_installs_as_a_package_with_its_command_and_api(tmp_path):
    """``pip install`` of the repository gives the ``descent-lab`` command and the Python API (here
    into a folder, without dependencies: they are this venv's), and the dashboard's assets."""
    import os

    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(ROOT_DIR)], check=False, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assets = target / "dashboard" / "assets"  # the top-level assets/, installed inside the package
    assert (assets / "descent.js").is_file() and (assets / "style.css").is_file() and (target / "app.py").is_file()
    shipped = sorted(p.name for p in (target / "dashboard" / "lesson_files").glob("*.yaml"))  # lessons/, likewise
    assert shipped == sorted(p.name for p in (ROOT_DIR / "lessons").glob("*.yaml")) and len(shipped) >= 4
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
    assert all(name in shown.stdout for name in ("run", "grid", "sweep", "preview", "curvature", "fetch-data"))
    _serves(command, env, tmp_path, target)


def _serves(command: Path, env: dict[str, str], cwd: Path, target: Path) -> None:
    """The installed ``descent-lab serve`` answers / and /healthz with the package's version, and
    writes its folders under the working directory, never inside the package."""
    import json
    import tomllib
    import urllib.request

    from tests.serving import free_port, stop, wait_for

    port = free_port()
    env = {k: v for k, v in env.items() if k not in ("BACKGROUND_CACHE_DIR", "WEIGHTS_DIR", "SECRET_KEY_FILE")}
    with (cwd / "serve.log").open("w") as log:
        server = subprocess.Popen([sys.executable, str(command), "serve", "--port", str(port)], env=env, cwd=cwd,
                                  stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: urllib.request.urlopen(url + "/healthz", timeout=2), [server], 90), \
            (cwd / "serve.log").read_text()[-2000:]
        with urllib.request.urlopen(url + "/", timeout=10) as page:
            assert page.status == 200 and b"Descent Lab" in page.read()
        with urllib.request.urlopen(url + "/assets/style.css", timeout=10) as style:
            assert style.status == 200 and b"{" in style.read(), "the assets are served from the package"
        with urllib.request.urlopen(url + "/healthz", timeout=10) as health:
            version = json.loads(health.read())["version"]
        assert version == tomllib.loads((ROOT_DIR / "pyproject.toml").read_text())["project"]["version"]
    finally:
        stop(server)
    assert (cwd / "cache-dir" / "secret_key").is_file(), "the folders are the working directory's"
    assert not (target / "cache-dir").exists(), "nothing is written inside the package"
