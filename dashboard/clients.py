"""Who asks: a session the server issued and signed, else the client's address.

Every browser gets a session id in a cookie (``descent_session``, HttpOnly, SameSite=Lax), made by
the server and signed with the secret key (itsdangerous, under Flask). A missing, unsigned or
tampered cookie counts as no cookie: the request is its client address's, so forging cookies gains
nothing. Sessions are issued with pages (not to the app's endpoints), at most
``SESSIONS_PER_MINUTE`` a minute to an address; past that its requests count as the address.
Behind reverse proxies the address is the one they forwarded, only when ``TRUSTED_PROXIES`` says
how many there are (werkzeug's ProxyFix).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Flask, Response, current_app, has_request_context, request
from flask_limiter import Limiter
from itsdangerous import BadSignature, Signer
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard.ratelimit import allowed, client_address
from dashboard.settings import ClientLimits, Proxying

SESSION_COOKIE = "descent_session"
API_PREFIXES = ("/_dash-", "/_reload-hash", "/room", "/r/", "/assets/", "/healthz")  # under the app's path
SALT = "descent-lab.session"


@dataclass(frozen=True, slots=True)
class Client:
    """``session``: "s:ID" for a session this server signed, else "addr:ADDRESS"; ``address``: the
    client's address. The caps per person count by ``session``, the caps per network by ``address``."""

    session: str
    address: str

    @property
    def signed(self) -> bool:
        """Whether the session is one this server issued (else it stands for its whole address)."""
        return self.session.startswith("s:")


NOBODY = Client("none", "none")  # outside a request (a job, a test calling compute directly)


def _signer() -> Signer:
    return Signer(current_app.secret_key, salt=SALT)


def _session_of(cookie: str | None) -> str | None:
    """The session id in a cookie this server signed, or None (missing, forged or tampered)."""
    if not cookie:
        return None
    try:
        return _signer().unsign(cookie).decode()
    except (BadSignature, UnicodeDecodeError):
        return None


def client() -> Client:
    """The client of the current request (NOBODY outside one)."""
    if not has_request_context():
        return NOBODY
    address = client_address()
    session = _session_of(request.cookies.get(SESSION_COOKIE))
    return Client(f"s:{session}" if session else f"addr:{address}", address)


def _a_page(response: Response, routes_prefix: str = "/") -> bool:
    """Whether the response is a page a browser opens (sessions are issued there only: requests to
    the app's endpoints without a session, such as a flood's, do not use up the address's sessions)."""
    endpoints = tuple(routes_prefix + prefix.lstrip("/") for prefix in API_PREFIXES)
    return request.method == "GET" and response.mimetype == "text/html" and not request.path.startswith(endpoints)


def install(server: Flask, limiter: Limiter, limits: ClientLimits, proxying: Proxying, routes_prefix: str = "/",
            cookie_path: str = "/") -> None:
    """Trust ``TRUSTED_PROXIES`` proxies' forwarded address and scheme, and issue signed sessions.

    Under a sub-path the app's endpoints are under ``routes_prefix`` and the session cookie is the
    app's path's (``cookie_path``, where the browser reaches it): two apps at /a/ and /b/ of one
    host, each with its own key, would otherwise overwrite each other's session at every page."""
    if proxying.TRUSTED_PROXIES:
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=proxying.TRUSTED_PROXIES,  # type: ignore[method-assign]
                                   x_proto=proxying.TRUSTED_PROXIES)
    rate = f"{limits.SESSIONS_PER_MINUTE}/minute"

    @server.after_request
    def _issue(response: Response) -> Response:
        if not _a_page(response, routes_prefix) or _session_of(request.cookies.get(SESSION_COOKIE)) is not None:
            return response
        if not allowed(limiter, rate, "new-session", client_address()):
            return response  # this address had its new sessions for the minute: it counts as itself
        secure = proxying.COOKIE_SECURE == "always" or (proxying.COOKIE_SECURE == "auto" and request.is_secure)
        response.set_cookie(SESSION_COOKIE, _signer().sign(secrets.token_urlsafe(16)).decode(), httponly=True,
                            samesite="Lax", secure=secure, path=cookie_path)
        return response
