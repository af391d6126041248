"""Headless Chromium from Debian (`make system-deps` installs /usr/bin/chromium), driven by
Playwright's Python API. Playwright's own browser downloads are never used."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMIUM = Path(os.environ.get("VELOCIMEX_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_missing_reason() -> str | None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return None
    hint = "as root, `make system-deps` (apt-get install chromium)"
    return f"no Chromium at {CHROMIUM} ({shutil.which('chromium') or 'not on PATH'}): {hint}"
