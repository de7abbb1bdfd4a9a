"""Descent Lab: builds the Dash app and the cache; ``server`` is the WSGI app for gunicorn.

Run ``python app.py --host 127.0.0.1 --port 8050`` (or ``make run``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import dash
from dash import Dash, dcc, html

from dashboard import cache as compute_cache
from dashboard import clients, lessons, player, questions, rooms, share
from dashboard.errors import install_request_errors, show_callback_error
from dashboard.hosting import background_manager, install_headers, install_healthz, secret_key
from dashboard.ids import ID, nav_id
from dashboard.panels import icon
from dashboard.ratelimit import make_limiter
from dashboard.settings import settings
from dashboard.state import PAGE_OF_PATH

HERE = Path(__file__).parent
# assets/ beside this file in a checkout; installed, they are the dashboard package's (pyproject.toml)
ASSETS = HERE / "assets" if (HERE / "assets").is_dir() else HERE / "dashboard" / "assets"
log = logging.getLogger("descent_lab")
# Background jobs: processes from a forkserver on this machine, or Celery workers when REDIS_URL
# is set (``make worker``); see dashboard/jobs/. The job processes start from dashboard/jobprocess.py.
manager, celery_app = background_manager()


def create_app() -> Dash:
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder=str(HERE / "dashboard" / "pages"),
        assets_folder=str(ASSETS),
        title="Descent Lab",
        on_error=show_callback_error,
        background_callback_manager=manager,
        suppress_callback_exceptions=True,
        # the browser numbers its requests, so that the server knows which change is the newest
        hooks={"request_pre": share.ORDER_HOOK},
    )
    server = app.server
    server.extensions["descent_lab.jobs"] = manager  # gunicorn's post_worker_init warms it (gunicorn_conf.py)
    server.config["SECRET_KEY"] = secret_key()  # one key for every worker (see README, Hosting)
    server.config["MAX_CONTENT_LENGTH"] = settings().server.MAX_CONTENT_LENGTH
    compute_cache.configure(server)
    # Under a sub-path (DASH_URL_BASE_PATHNAME=/lab/, or DASH_REQUESTS_PATHNAME_PREFIX behind a proxy
    # that strips it) the app's own routes live where Dash's do, and every address a browser is
    # given starts where the browser reaches the app (see README, Hosting).
    routes, requests = app.config.routes_pathname_prefix, app.config.requests_pathname_prefix
    install_request_errors(server)
    install_healthz(server, manager, celery_app, routes)
    limits, proxying = settings().clients, settings().proxying
    rooms.check_public_url(proxying.PUBLIC_URL, requests)
    limiter = make_limiter(server, manager.store, json_under=f"{routes}room")
    clients.install(server, limiter, limits, proxying, routes, cookie_path=requests)
    install_headers(server, app.csp_hashes, proxying)
    share.install(server, share.Gate(manager.store, limits), clients.client)
    # a room holds one of the pages' addresses as the browser has it (Dash's relative_path: the prefix and
    # the page's path), so its short link redirects within the app
    # a question to the room is about the presenter's page, known by its address (dashboard/questions.py)
    def pose(kind, path, query):
        pages = {p["relative_path"]: p["path"] for p in dash.page_registry.values()}
        return questions.pose(kind, PAGE_OF_PATH.get(pages.get(path, ""), ""), query)

    rooms.install(server, rooms.Rooms(manager.store, lambda: {p["relative_path"] for p in dash.page_registry.values()},
                                      limits=limits), clients.client, limiter, proxying.PUBLIC_URL, routes, requests,
                  rooms.Asking(pose, questions.check_answer, questions.reveal, lessons.shared))
    app.layout = html.Div(
        [
            html.Header(
                [
                    html.H1("Descent Lab"),
                    html.Nav([dcc.Link(page["name"], href=page["relative_path"], id=nav_id(page["path"]))
                              for page in dash.page_registry.values()]),
                    player.menu(),
                    html.Button([icon("present"), "present"], id=ID.PRESENT, className="present-toggle",
                                title="presentation layout: the controls fold away, the figures fill the screen"),
                    # presenting only: the next screen of figures (PageDown, a clicker's key) and the maps'
                    # scale (assets/descent.js)
                    html.Button("next screen ▾", id=ID.PRESENT_NEXT, className="present-only",
                                title="the next row of figures (PageDown; PageUp goes back)"),
                    html.Button("maps: fill", id=ID.MAP_FILL, className="present-only",
                                title="maps fill their space, or keep one unit of bias as long as one of weight"),
                    html.Button([icon("room"), "start a room"], id=ID.ROOM, className="room-toggle",
                                title="presenter mode: everyone who opens the room's link follows this page"),
                ],
                className="topbar",
            ),
            # the room's bar (assets/room.js fills it): the link and QR code, or "following"
            html.Div(id=ID.ROOM_BAR, className="room-bar", hidden=True,
                     **{"data-poll-ms": str(rooms.POLL_MS), "data-questions": questions.menu()}),
            # a lesson's step, where the address names one (dashboard/player.py)
            *player.parts(),
            html.Div(id=ID.ERROR, className="global-error"),
            dash.page_container,
        ]
    )
    # Dash finishes its set-up (callback map, page router) on the first request, without a lock:
    # concurrent first requests to a fresh gunicorn worker found callbacks missing (HTTP 400 in
    # bench load). That first request is made here, before the worker serves anyone.
    app.server.test_client().get(f"{routes}_dash-dependencies")
    return app


app = create_app()
server = app.server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="descent-lab serve", description="Serve Descent Lab.")
    parser.add_argument("--host", default=settings().server.HOST, help="the address to listen on (HOST)")
    parser.add_argument("--port", type=int, default=settings().server.PORT, help="the port (PORT)")
    parser.add_argument("--debug", action="store_true", help="Dash debug mode (development only)")
    args = parser.parse_args(argv)
    manager.warm()  # the job forkserver imports the job's entry point now, not on the first job
    app.run(host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
