"""Test-wide settings: hypothesis explores freely on a laptop and replays the same examples in CI."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
