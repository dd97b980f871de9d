"""/scim/v2: scim2-server serves the protocol (routes, validation, PATCH, discovery, errors) over
lms.scim.storage; this door adds the bearer tokens, a body size limit, a rate limit per token,
and SCIM error bodies for what goes wrong around the protocol (a busy database, a bug).

The protocol's libraries (scim2-server, pydantic) take half a second to import: they are loaded
by the first SCIM request, not by every `flask` command and worker start. That is why this is a
catch-all view handing requests to scim2-server's handler, not scim2-flask's routes.

SCIM clients send no CSRF token (they hold a bearer token, which a browser does not send by
itself), so the blueprint is exempt from CSRF.
"""
import hashlib
import json
import logging
from functools import cache
from http import HTTPStatus

from flask import Blueprint, Response, current_app, g, request, url_for
from sqlalchemy.exc import OperationalError

from lms.clock import utcnow
from lms.extensions import csrf, db, limiter
from lms.scim.tokens import token_of_request

logger = logging.getLogger(__name__)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
csrf.exempt(bp)


def _token_key() -> str:
    """Requests count per token (its hash: the limiter's store keeps no tokens)."""
    header = request.headers.get("Authorization", "")
    return hashlib.sha256(header.encode()).hexdigest()[:32] if header else f"anonymous:{request.remote_addr}"


# Past it, 429 with a SCIM error and Retry-After, which Entra ID and Okta wait out.
limiter.limit(lambda: current_app.config["LMS_SCIM_RATE_LIMIT"], key_func=_token_key, scope="scim")(bp)


@cache
def _protocol():
    """(handler, service) of scim2-server over the platform's storage, made on first use."""
    from lms.scim.resources import provider
    from lms.scim.service import PlatformScimHandler, PlatformScimService
    from lms.scim.storage import PlatformStorage

    service = PlatformScimService(provider())
    return PlatformScimHandler(service, PlatformStorage(token=lambda: g.get("scim_token"))), service


def _respond(scim_response) -> Response:
    body = json.dumps(scim_response.body) if scim_response.body is not None else None
    return Response(body, status=scim_response.status, headers=scim_response.headers)


def _error(status: int, detail: str, headers=None) -> Response:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status), "detail": detail}
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/scim+json")


@bp.route("/", methods=METHODS)
def root():
    """/scim/v2/ itself: a search at the root (/.search), or a SCIM 404."""
    return serve("")


@bp.route("/<path:path>", methods=METHODS)
def serve(path):
    from scim2_models import SCIMException, UnauthorizedException
    from scim2_server.requests import ScimRequest

    handler, service = _protocol()
    try:
        token = token_of_request(request.headers.get("Authorization"), now=utcnow())
        if token is None:
            raise UnauthorizedException(detail="Send a valid SCIM token: Authorization: Bearer TOKEN.")
        if db.session.is_modified(token):  # last_used_at, written at most once a minute
            db.session.commit()
        g.scim_token = token
        scim_request = ScimRequest(
            method=request.method, base_url=url_for("scim.root", _external=True).rstrip("/"),
            path="/" + path, query=request.args.to_dict(), headers=list(request.headers.items()), subject=token)
        scim_request.body = _read_body()
        _refuse_nul(scim_request)
        return _respond(handler.handle(scim_request))
    except SCIMException as error:
        db.session.rollback()
        return _respond(service.error_response(error))
    except OperationalError as error:
        db.session.rollback()
        if "database is locked" not in str(error.orig):
            raise
        # SQLite gave up waiting for another writer: nothing was saved; the provider retries.
        return _error(503, "The platform is busy and nothing was saved. Try again in a moment.", {"Retry-After": "5"})


def _read_body() -> bytes:
    from scim2_models import PayloadTooLargeException

    limit = current_app.config["LMS_SCIM_MAX_BODY_BYTES"]
    too_large = PayloadTooLargeException(detail=f"The request body is larger than the {limit:,} bytes the "
                                                "platform accepts (LMS_SCIM_MAX_BODY_BYTES).")
    if (request.content_length or 0) > limit:
        raise too_large
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise too_large
    return body


def _refuse_nul(scim_request):
    """No text the platform stores may hold a NUL character (PostgreSQL refuses them): say so
    before anything reads it."""
    from scim2_models import InvalidValueException

    if b"\x00" in scim_request.body or b"\\u0000" in scim_request.body.lower() or \
            any("\x00" in value for value in scim_request.query.values()):
        raise InvalidValueException(detail="The request holds a NUL character (\\u0000), which no attribute may hold.")


@bp.errorhandler(429)
def too_many_requests(error):
    response = _error(429, f"Too many requests for this token ({error.description}). Wait, then try again.")
    retry_after = dict(error.get_headers()).get("Retry-After")
    response.headers["Retry-After"] = retry_after or "60"
    return response


@bp.errorhandler(Exception)
def unexpected(error):
    """A bug: logged, rolled back, and answered as a SCIM 500 (never an HTML page)."""
    from werkzeug.exceptions import HTTPException

    db.session.rollback()
    if isinstance(error, HTTPException):
        return _error(error.code or 500, error.description or error.name)
    logger.exception("SCIM request failed")
    return _error(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")
