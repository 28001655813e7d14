"""``IdentityPort`` over the regional platform's JSON API, through ``jingan.lib.http``."""

from __future__ import annotations

import base64

from jingan.integrations.regional.port import IdentityError, IdentityVerdict, RegionalConfig
from jingan.lib.http import OutboundClient, OutboundError

VERIFY_PATH = "/identity/v1/face-verify"


class HttpIdentityAdapter:
    """Face + ID verification by the regional platform."""

    def __init__(self, config: RegionalConfig) -> None:
        self.config = config

    def verify(self, *, id_number: str, name: str, photo: bytes) -> IdentityVerdict:
        body = {
            "id_number": id_number,
            "name": name,
            "photo_base64": base64.b64encode(photo).decode("ascii"),
        }
        with OutboundClient(
            system="regional-identity",
            base_url=self.config.api_base_url,
            timeout=self.config.timeout_seconds,
        ) as client:
            try:
                # A verification has no side effect at the platform: safe to repeat.
                response = client.request("POST", VERIFY_PATH, json=body, retry_unsafe=True)
            except OutboundError as error:
                raise IdentityError("NETWORK", error.message, retryable=error.retryable) from error
        try:
            answer = response.json()
        except ValueError as error:
            raise IdentityError(
                "BAD_RESPONSE", f"HTTP {response.status_code}, not JSON", retryable=False
            ) from error
        if not isinstance(answer, dict) or answer.get("code") != "0":
            code = (
                str(answer.get("code", "BAD_RESPONSE"))
                if isinstance(answer, dict)
                else "BAD_RESPONSE"
            )
            message = str(answer.get("message", "")) if isinstance(answer, dict) else ""
            # E9xxx are the platform's own failures; everything else is about the request.
            raise IdentityError(code, message, retryable=code.startswith("E9"))
        try:
            return IdentityVerdict(
                matched=bool(answer["matched"]),
                score=float(answer["score"]),
                reference=str(answer["reference"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise IdentityError("BAD_RESPONSE", "incomplete answer", retryable=False) from error
