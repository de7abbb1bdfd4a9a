"""The one place where errors become something a person sees.

Domain errors (InvalidSpec) are turned into messages by the controls in the callbacks that
check state; this module handles everything else: an unexpected exception inside a callback
becomes a banner (never a traceback), and a malformed request to Dash's endpoint a 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dash import no_update, set_props
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from dashboard.ids import ID

log = logging.getLogger(__name__)
UPDATE_ROUTE = "/_dash-update-component"


def show_callback_error(err: Exception) -> None:
    """Dash's ``on_error``: log the exception, show a short banner, update nothing else."""
    log.exception("callback failed", exc_info=err)
    set_props(ID.ERROR, {"children": f"Something went wrong while updating the view "
                                     f"({type(err).__name__}); the last good view is kept."})


class JobQueueDown(RuntimeError):
    """The background jobs' queue (Redis, for Celery) cannot take a job right now."""


def job_error(outputs: int) -> Callable[[Exception], list[Any]]:
    """``on_error`` of a background callback whose last output is its status line: the reason
    goes there (a job that could not start shows why), the other outputs keep their values."""

    def handle(err: Exception) -> list[Any]:
        log.exception("background job failed", exc_info=err)
        text = (str(err) if isinstance(err, JobQueueDown)
                else f"The job failed ({type(err).__name__}); the last good view is kept.")
        return [no_update] * (outputs - 1) + [text]

    return handle


def install_request_errors(server: Flask) -> None:
    """Answer malformed requests to Dash's endpoint with 400 instead of a 500."""

    @server.errorhandler(Exception)
    def _handle(err: Exception):
        if isinstance(err, HTTPException):
            return err
        log.exception("request failed", exc_info=err)
        if request.path.endswith(UPDATE_ROUTE):
            return jsonify(error="malformed callback request"), 400
        return jsonify(error="internal error"), 500
