"""The one exception tree of promptshelf.

    PromptshelfError            code "internal"
    ├── NotFoundError           code "not_found"
    ├── ConflictError           code "conflict"         (carries current_version)
    ├── InvalidArgumentError    code "invalid_argument"
    ├── ForbiddenError          code "forbidden"
    └── UnavailableError        code "unavailable"      (upstream down or throttled)

Every layer raises these and nothing else: backends translate library errors (sqlite3, httpx) with
``raise ... from exc``, so the service, the MCP surface and the CLI never see a library's exception.
The ``code`` of each class is part of the public contract (DESIGN.md, "MCP surface").
"""

from __future__ import annotations

from typing import Any, ClassVar


class PromptshelfError(Exception):
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The structured error an MCP tool result or ``--json`` output carries."""
        return {"code": self.code, "message": self.message, **self.details}


class NotFoundError(PromptshelfError):
    code = "not_found"


class ConflictError(PromptshelfError):
    code = "conflict"

    def __init__(self, message: str, *, current_version: int | None = None, **details: Any) -> None:
        super().__init__(message, current_version=current_version, **details)
        self.current_version = current_version


class InvalidArgumentError(PromptshelfError):
    code = "invalid_argument"


class ForbiddenError(PromptshelfError):
    code = "forbidden"


class UnavailableError(PromptshelfError):
    code = "unavailable"


ERROR_CLASSES: tuple[type[PromptshelfError], ...] = (
    PromptshelfError,
    NotFoundError,
    ConflictError,
    InvalidArgumentError,
    ForbiddenError,
    UnavailableError,
)
