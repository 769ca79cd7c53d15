"""Run the faust worker in this process until interrupted."""

from __future__ import annotations

import faust

from hub.app import create_app
from hub.settings import Settings


def run_worker(settings: Settings) -> int:
    """Block running the hub's agents; returns the worker's exit code."""
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    # no terminal spinner: its log handler puts the root logger at DEBUG, so every debug
    # line of faust and mode (one per record sent) would be built and then dropped
    worker.spinner = None
    worker.execute_from_commandline()
    return 0
