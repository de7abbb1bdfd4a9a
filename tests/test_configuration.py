"""The README's configuration table is the settings object's fields, and nothing else in the app
reads the environment: a setting added without a row, a row for one nothing reads, or an
environment variable read outside dashboard/settings.py (compute's own data folders aside) fails here."""

import re

from dashboard.settings import Settings
from tests.serving import ROOT_DIR

MAKEFILE_ONLY = {"CONCURRENCY"}  # read by the Makefile (`make worker`), not by the app
COMPUTE = {"DATA_DIR", "CACHE_ROOT"}  # compute's data folders, read by compute/datasets.py (and its CLI)
READS = re.compile(r"\b(?:os\.environ|getenv)\b")


def _documented() -> set[str]:
    section = (ROOT_DIR / "README.md").read_text().split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def test_every_setting_has_a_row_and_every_row_is_a_setting():
    documented, read = _documented(), set(Settings.variables()) | COMPUTE
    assert len(documented) > 30, "the table was found"
    assert read - documented == set(), "read by the app but not in README's configuration table"
    assert documented - read - MAKEFILE_ONLY == set(), "in README's configuration table but read by nothing"


def test_only_the_settings_module_reads_the_environment():
    readers = {}
    for source in [*ROOT_DIR.glob("dashboard/**/*.py"), ROOT_DIR / "app.py"]:
        lines = [n for n, line in enumerate(source.read_text().splitlines(), 1)
                 if READS.search(line) and "os.environ[\"BROWSER_PATH\"] =" not in line]
        if lines and source.name != "settings.py":
            readers[str(source.relative_to(ROOT_DIR))] = lines
    assert readers == {}, "read the environment through dashboard.settings.settings()"
    compute = {str(s.relative_to(ROOT_DIR)) for s in ROOT_DIR.glob("compute/**/*.py") if READS.search(s.read_text())}
    assert compute <= {"compute/datasets.py", "compute/cli.py"}
