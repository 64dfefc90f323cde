"""API errors rendered as ``metav1.Status`` like the apiserver's."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the client as a Status object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The Status body."""
        body: dict[str, Any] = {
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


def not_found(resource: str, name: str, group: str = "") -> ApiError:
    """404 NotFound for a named object."""
    what = f"{resource}.{group}" if group else resource
    return ApiError(
        404,
        "NotFound",
        f'{what} "{name}" not found',
        {"name": name, "group": group, "kind": resource},
    )


def gone(message: str = "too old resource version") -> ApiError:
    """410 Gone / Expired."""
    return ApiError(410, "Expired", message)


def conflict(resource: str, name: str, group: str = "") -> ApiError:
    """409 Conflict for a stale resourceVersion."""
    what = f"{resource}.{group}" if group else resource
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {what} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": name, "group": group, "kind": resource},
    )


def already_exists(resource: str, name: str, group: str = "") -> ApiError:
    """409 AlreadyExists on create."""
    what = f"{resource}.{group}" if group else resource
    return ApiError(
        409,
        "AlreadyExists",
        f'{what} "{name}" already exists',
        {"name": name, "group": group, "kind": resource},
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def invalid(
    kind: str, group: str, name: str, causes: list[dict[str, str]], texts: list[str]
) -> ApiError:
    """422 Invalid with the apiserver's aggregated message and causes."""
    what = f"{kind}.{group}" if group else kind
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422,
        "Invalid",
        f'{what} "{name}" is invalid: {joined}',
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )
