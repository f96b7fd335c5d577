"""Errors raised by the services, each carrying the HTTP status of the response.

Routes let them propagate; ``app.main`` turns every ``ServiceError`` into
``{"detail": message}`` with its status code.
"""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service cannot fulfil because of its input or the stored state."""

    status_code = 400
    headers: dict[str, str] | None = None  # extra response headers

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadInputError(ServiceError):
    """Empty, truncated or corrupt upload, or a malformed request body."""

    status_code = 400


class UnauthorizedError(ServiceError):
    """Missing or wrong API token."""

    status_code = 401


class NotFoundError(ServiceError):
    """No record with the requested id or name."""

    status_code = 404


class ConflictError(ServiceError):
    """The resource exists but cannot be changed in its current state."""

    status_code = 409


class TooLargeError(ServiceError):
    """Upload over the byte limit, or image over the pixel limit."""

    status_code = 413


class UploadTooLargeError(TooLargeError):
    """Upload over the byte limit whose rest was never read.

    The response closes the connection, because keeping it alive would make the server read and
    discard the rest of the body first.
    """

    headers = {"Connection": "close"}


class UnsupportedMediaError(ServiceError):
    """Bytes that are not of the expected kind (an image, a zip archive)."""

    status_code = 415


class InvalidParameterError(ServiceError):
    """A parameter that is well-formed but not acceptable; the message names it."""

    status_code = 422
