"""Where the browser tests put their screenshots.

A normal test run writes them under ``.data/screenshots/`` (ignored by git), so running
the tests leaves the work tree clean. ``make screenshots`` sets ``SCREENSHOTS_DIR`` to
``docs/screenshots`` to refresh the README's pictures on purpose (issue 14 item 6)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / ".data" / "screenshots"
README_DIR = ROOT / "docs" / "screenshots"


def screenshot_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``SCREENSHOTS_DIR`` (relative to the repository) when set, else ``.data/screenshots``."""
    raw = environ.get("SCREENSHOTS_DIR", "").strip()
    if not raw:
        return DEFAULT_DIR
    path = Path(raw)
    return path if path.is_absolute() else ROOT / path
