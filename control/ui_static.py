"""Serving the built web UI (ui/dist, `make install` builds it) from the control plane.

The UI's files hold no trading data, so like /docs they need no token; everything they show
comes from the token-protected API. The API's routes are registered first and win; the UI
switches views by URL fragment, so no client-side path can shadow an API route."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Scope

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_UI_DIR = REPO_ROOT / "ui" / "dist"

_NOT_BUILT = """<!doctype html><html><head><title>Velocimex: UI not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">
<h1>The web UI is not built</h1>
<p>The control plane is running (API docs at <a href="/docs">/docs</a>), but there is no
<code>{index}</code>.</p>
<p>Build it with <code>make install</code> (or <code>cd ui &amp;&amp; npm ci &amp;&amp;
npm run build</code>), then reload this page.</p></body></html>"""


def default_ui_dir() -> Path:
    return Path(os.environ.get("VELOCIMEX_UI_DIR", DEFAULT_UI_DIR))


class UiFiles(StaticFiles):
    """StaticFiles that answers with build instructions while ``index.html`` is missing, and
    serves the build as soon as it appears (no restart after `make install`)."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)
        self.index = Path(directory) / "index.html"

    async def check_config(self) -> None:
        if self.index.is_file():
            await super().check_config()

    async def get_response(self, path: str, scope: Scope) -> Response:
        if not self.index.is_file():
            return HTMLResponse(_NOT_BUILT.format(index=self.index), status_code=503)
        return await super().get_response(path, scope)


def mount_ui(app: FastAPI, ui_dir: Path) -> None:
    """Serve ``ui_dir`` at ``/``, after every API route (a mount matches any path)."""
    app.mount("/", UiFiles(ui_dir), name="ui")
