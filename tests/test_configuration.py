"""The README's configuration table and the code read the same environment variables: a variable
added to the settings (or read anywhere in the app) without a row, or a row for one nothing reads,
fails here."""

import dataclasses
import re

from dashboard.jobs.book import JobLimits
from dashboard.settings import ClientLimits, Folders, Proxying
from tests.serving import ROOT_DIR

SETTINGS = (JobLimits, ClientLimits, Proxying, Folders)
MAKEFILE_ONLY = {"CONCURRENCY"}  # read by the Makefile (`make worker`), not by the app
READS = re.compile(r'(?:environ|env)(?:\.get\(|\[)\s*"([A-Z][A-Z0-9_]+)"|megabytes\("([A-Z][A-Z0-9_]+)"')


def _documented() -> set[str]:
    section = (ROOT_DIR / "README.md").read_text().split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1]))
    return names


def _read() -> set[str]:
    names = {field.name for settings in SETTINGS for field in dataclasses.fields(settings)}
    sources = [*ROOT_DIR.glob("compute/**/*.py"), *ROOT_DIR.glob("dashboard/**/*.py"), ROOT_DIR / "app.py"]
    for source in sources:
        names |= {a or b for a, b in READS.findall(source.read_text())}
    return names


def test_every_variable_read_has_a_row_and_every_row_is_read():
    documented, read = _documented(), _read()
    assert len(documented) > 30, "the table was found"
    assert read - documented == set(), "read by the app but not in README's configuration table"
    assert documented - read - MAKEFILE_ONLY == set(), "in README's configuration table but read by nothing"
