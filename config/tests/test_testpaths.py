"""``make test`` runs pytest without paths, so it collects only ``pytest.ini``'s
``testpaths``: an app whose tests are missing there is silently never tested (the
safety app's were, for a while)."""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_with_tests_is_in_testpaths():
    config = configparser.ConfigParser()
    config.read(ROOT / "pytest.ini")
    testpaths = set(config["pytest"]["testpaths"].split())
    with_tests = {
        path.parent.parent.name
        for path in ROOT.glob("*/tests/test_*.py")
        if not path.is_relative_to(ROOT / ".venv")
    }

    assert with_tests, "no test folders found"
    assert with_tests - testpaths == set()
