"""The e-prescription context's one error type and its codes (for pages and the API)."""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    """Why an e-prescription action was refused; the API answers these as ``code``."""

    NOT_FOUND = "not_found"
    INVALID_INPUT = "invalid_input"
    UNKNOWN_DRUG = "unknown_drug"
    DUPLICATE_RXNO = "duplicate_rxno"
    WRONG_STATE = "wrong_state"
    NO_CONNECTION = "no_connection"
    CONNECTION_DISABLED = "connection_disabled"
    CENTRE_REFUSED = "centre_refused"
    CENTRE_UNAVAILABLE = "centre_unavailable"
    CENTRE_UNCERTAIN = "centre_uncertain"
    DOCUMENT_FAILED = "document_failed"
    NOT_REPLAYABLE = "not_replayable"


# HTTP status the API answers for each code.
HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_INPUT: 422,
    ErrorCode.UNKNOWN_DRUG: 422,
    ErrorCode.DUPLICATE_RXNO: 409,
    ErrorCode.WRONG_STATE: 409,
    ErrorCode.NO_CONNECTION: 409,
    ErrorCode.CONNECTION_DISABLED: 409,
    ErrorCode.CENTRE_REFUSED: 422,
    ErrorCode.CENTRE_UNAVAILABLE: 503,
    ErrorCode.CENTRE_UNCERTAIN: 503,
    ErrorCode.DOCUMENT_FAILED: 500,
    ErrorCode.NOT_REPLAYABLE: 409,
}


class ErxError(Exception):
    """An e-prescription action cannot be done; ``message`` says why, in Chinese.

    ``field`` names the input (or the centre's field) at fault, where there is one;
    ``centre_code`` keeps the centre's answer code for refusals.
    """

    def __init__(
        self, code: ErrorCode, message: str, field: str = "", *, centre_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.centre_code = centre_code

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 400)

    def __str__(self) -> str:
        return self.message
