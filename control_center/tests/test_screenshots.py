"""Running the tests leaves the work tree clean (issue 14 item 6): the browser tests'
screenshots go to a folder git ignores; only ``make screenshots`` writes the README's."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from control_center.tests.screenshots import DEFAULT_DIR, README_DIR, ROOT, screenshot_dir


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture
def git_work_tree():
    if _git("rev-parse", "--is-inside-work-tree").stdout.strip() != "true":
        pytest.skip("not a git work tree (an exported copy): nothing to keep clean")


def test_a_normal_run_writes_screenshots_to_an_ignored_untracked_folder(git_work_tree):
    folder = screenshot_dir({})

    assert folder == DEFAULT_DIR
    assert _git("check-ignore", "-q", str(folder / "dashboard.png")).returncode == 0
    assert _git("ls-files", str(folder)).stdout == ""
    assert not folder.is_relative_to(README_DIR)


def test_this_run_writes_them_there_unless_screenshots_dir_says_otherwise(git_work_tree):
    from control_center.tests.test_browser import SCREENSHOTS

    if os.environ.get("SCREENSHOTS_DIR"):  # make screenshots: on purpose
        assert SCREENSHOTS == screenshot_dir()
    else:
        assert SCREENSHOTS == DEFAULT_DIR


def test_screenshots_dir_is_taken_relative_to_the_repository():
    assert screenshot_dir({"SCREENSHOTS_DIR": "docs/screenshots"}) == README_DIR
    assert screenshot_dir({"SCREENSHOTS_DIR": "/tmp/shots"}) == Path("/tmp/shots")
    assert screenshot_dir({"SCREENSHOTS_DIR": "  "}) == DEFAULT_DIR


def test_every_picture_of_the_readme_is_tracked_in_docs_screenshots(git_work_tree):
    readme = (ROOT / "README.md").read_text()
    pictures = set(re.findall(r"\]\((docs/screenshots/[a-z0-9-]+\.png)\)", readme))
    tracked = set(_git("ls-files", "docs/screenshots").stdout.split())

    assert pictures
    assert pictures <= tracked
