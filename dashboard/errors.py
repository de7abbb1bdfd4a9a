"""The one place where errors become something a person sees.

Domain errors (InvalidSpec) are turned into messages by the controls in the callbacks that
check state; this module handles everything else: an unexpected exception inside a callback
becomes a banner (never a traceback), and a malformed request to Dash's endpoint a 400.
"""

from __future__ import annotations

import logging

from dash import set_props
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
