"""Run the faust worker in this process until interrupted."""

from __future__ import annotations

import logging

import faust

from hub.app import create_app
from hub.log_setup import configure_logging
from hub.settings import Settings


class HubWorker(faust.Worker):
    """faust's worker with our log lines (text or JSON, with correlation ids) and no
    terminal spinner: the spinner's handler puts the root logger at DEBUG, so every debug
    line of faust and mode (one per record sent) would be built and then dropped."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        super().__init__(app, loglevel=settings.log_level.lower(), quiet=True)
        self.spinner = None
        self._settings = settings

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        # mode has just put its own handler on the root logger: ours replaces it
        configure_logging(self._settings.log_level, self._settings.log_format)


def run_worker(settings: Settings) -> int:
    """Block running the hub's agents; returns the worker's exit code."""
    HubWorker(create_app(settings), settings).execute_from_commandline()
    return 0
