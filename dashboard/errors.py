"""The one place where errors become something a person sees.

Domain errors (InvalidSpec) are turned into messages by the controls in the callbacks that
check state; this module handles everything else: an unexpected exception inside a callback
becomes a banner (never a traceback), and a malformed request to Dash's endpoint a 400.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from dash import set_props
from dash.exceptions import BackgroundCallbackError, DependencyException
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound

from dashboard.ids import ID
from dashboard.jobs import JobRefused
from dashboard.outputs import updates
from dashboard.share import Busy

log = logging.getLogger(__name__)
UPDATE_ROUTE = "/_dash-update-component"


def show_callback_error(err: Exception) -> None:
    """Dash's ``on_error``: log the exception, show a short banner, update nothing else."""
    if isinstance(err, Busy):
        log.info("busy: %s", err)
        set_props(ID.ERROR, {"children": str(err)})
        return
    log.exception("callback failed", exc_info=err)
    set_props(ID.ERROR, {"children": f"Something went wrong while updating the view "
                                     f"({type(err).__name__}); the last good view is kept."})


BACKGROUND_PREFIX = "An error occurred inside a background callback: "


def job_message(err: Exception) -> str:
    """What the page says about a job that could not start or did not finish.

    A refused job says why (queue full, session at its cap, queue unreachable); a job that ended
    without a result (cancelled, lost, stopped, failed) carries its sentence from ``dashboard.jobs``.
    """
    if isinstance(err, JobRefused):
        return str(err)
    if isinstance(err, BackgroundCallbackError) and str(err).startswith(BACKGROUND_PREFIX):
        return str(err)[len(BACKGROUND_PREFIX):].split("\n", 1)[0]
    return f"The job failed ({type(err).__name__}); the last good view is kept."


def job_error(outputs: Mapping[str, Any], status: str) -> Callable[[Exception], dict[str, Any]]:
    """``on_error`` of a background callback with the dict ``outputs``: the reason goes to the
    output ``status`` (a job that could not start shows why), the others keep their values."""

    def handle(err: Exception) -> dict[str, Any]:
        if isinstance(err, JobRefused | BackgroundCallbackError):
            log.warning("background job: %s", job_message(err))
        else:
            log.exception("background job failed", exc_info=err)
        return updates(outputs, **{status: job_message(err)})

    return handle


SUITES_ROUTE = "/_dash-component-suites/"


def install_request_errors(server: Flask) -> None:
    """Answer malformed requests to Dash's endpoint with 400 and unknown component-suite files with
    404, never a 500 or a traceback in the log."""

    @server.errorhandler(Exception)
    def _handle(err: Exception):
        if isinstance(err, HTTPException):
            return err
        if isinstance(err, RecursionError):  # a body nested past what the JSON decoder follows
            log.info("a request nested too deeply to read: %.200s", request.path)
            return jsonify(error="the request's body nests too deeply to be read"), 400
        if SUITES_ROUTE in request.path and isinstance(err, DependencyException | KeyError | OSError):
            log.info("no such component-suite file: %.200s", request.path)
            return NotFound()
        log.exception("request failed", exc_info=err)
        if request.path.endswith(UPDATE_ROUTE):
            return jsonify(error="malformed callback request"), 400
        return jsonify(error="internal error"), 500
