"""Kubernetes ``Status`` errors, shaped as the API server sends them.

Clients read ``reason`` and ``code`` (the official client surfaces both on ``ApiException``),
so each helper here produces the exact reason and message wording of a real API server.
"""

from __future__ import annotations

from typing import Any

from fake_k3s.resources import ResourceType

JSON = dict[str, Any]


class ApiError(Exception):
    """An API call failed; the HTTP layer answers with :meth:`status` and ``code``."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        body: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(resource: ResourceType, name: str) -> JSON:
    details: JSON = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name)
    )


def already_exists(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{resource.qualified} "{name}" already exists',
        _details(resource, name),
    )


def conflict(resource: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        _details(resource, name),
    )


def invalid(resource: ResourceType, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are (field path, what is wrong) pairs."""
    kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    summary = ", ".join(f"{field}: {what}" for field, what in causes)
    details = _details(resource, name)
    details["kind"] = resource.kind
    details["causes"] = [
        {"reason": "FieldValueInvalid", "message": what, "field": field} for field, what in causes
    ]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {summary}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def expired(requested: int, oldest: int) -> ApiError:
    # The wording of a real API server; the client's Watch looks only at the code (410).
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def unavailable() -> ApiError:
    return ApiError(
        503, "ServiceUnavailable", "the server is currently unable to handle the request"
    )


def unsupported_media_type(content_type: str, accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)} (got {content_type!r})",
    )


def method_not_allowed(method: str, path: str) -> ApiError:
    return ApiError(
        405, "MethodNotAllowed", f"the server does not allow this method ({method}) on {path}"
    )


def no_route(path: str) -> ApiError:
    return ApiError(404, "NotFound", f"the server could not find the requested resource ({path})")
