"""gunicorn settings for `make serve` and the Docker image: `gunicorn --config python:dashboard.gunicorn_conf`
(command-line flags override them)."""

from dashboard.settings import settings

_server = settings().server
bind = f"{_server.HOST}:{_server.PORT}"
workers = _server.WORKERS
threads = _server.THREADS
worker_class = "gthread"
# A request is answered within the app's work caps (epochs, grid, sweep size) in seconds; a worker
# silent for longer than this is restarted rather than left hung.
timeout = 60
graceful_timeout = 30
# recycle workers now and then, so a slow leak cannot grow without bound. Rarely: a room's followers
# poll 2.5 times a second each, and a recycled worker resets their kept-alive connections and takes
# seconds to start again (bench rooms, 100 followers: with 5,000 requests, 2 restarts a minute, 46
# errors and a p95 delay of 2.2 s; without restarts, 0 errors and 0.38 s)
max_requests = 200_000
max_requests_jitter = 20_000
# Browsers and load tools pause between moves and reuse their connection: with gunicorn's 2 s
# default, a request sent as the server closed the idle connection failed (bench load: 7 in 3,800).
# gthread parks idle connections in its poller, not in a thread, so a longer keep-alive is cheap.
keepalive = 30
accesslog = "-"
reuse_port = True  # the kernel spreads new connections over the workers


def post_worker_init(worker) -> None:
    """Start this worker's job forkserver (one machine) before it serves, not on the first job (the
    app it loaded keeps its job manager among the server's extensions)."""
    worker.wsgi.extensions["descent_lab.jobs"].warm()
