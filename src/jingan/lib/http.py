"""The one outbound HTTP client: httpx with timeouts, retries and a masked journal.

Every adapter that talks to an external system over HTTP builds an ``OutboundClient``
for it. Each request and its response (or failure) is journaled as one log line on the
``jingan.outbound`` logger with personal data masked and secrets removed, and every
failure is an ``OutboundError`` that says whether trying again may help.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx

from jingan.lib import masking

journal = logging.getLogger("jingan.outbound")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# Gateways and overloaded upstreams answer these; the request may well succeed later.
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

# Keys whose values are never written to the journal at all.
SECRET_KEYS = frozenset(
    {"secret", "appsecret", "app_secret", "access_token", "refresh_token", "password"}
)
# Keys whose values are shown masked; anything named like a photo or image is summarised.
MASKERS = {
    "id_number": masking.mask_id_number,
    "idcard": masking.mask_id_number,
    "mobile": masking.mask_mobile,
    "phone": masking.mask_mobile,
    "name": masking.mask_name,
    "address": masking.mask_address,
    # Hospital card and insurance card numbers identify a patient as well as an ID number.
    "cardno": masking.mask_id_number,
    "card_number": masking.mask_id_number,
}


class OutboundError(Exception):
    """A call to an external system failed; ``retryable`` says whether a retry may succeed."""

    def __init__(self, message: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


def mask_for_journal(value: Any, key: str = "") -> Any:
    """A copy of a JSON-like value safe to log: secrets dropped, personal data masked."""
    lowered = key.lower()
    if lowered in SECRET_KEYS:
        return "***"
    if isinstance(value, Mapping):
        return {k: mask_for_journal(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_for_journal(item, key) for item in value]
    if isinstance(value, str):
        if "photo" in lowered or "image" in lowered:
            return f"<{len(value)} chars>"
        masker = MASKERS.get(lowered)
        if masker is not None:
            return masker(value)
    return value


def _decoded(content: bytes) -> Any:
    import json as _json

    try:
        return _json.loads(content)
    except ValueError:
        return f"<{len(content)} bytes>"


class OutboundClient:
    """HTTP calls to one external system, with timeouts, bounded retries and a journal."""

    def __init__(
        self,
        *,
        system: str,
        base_url: str,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int = 2,
        backoff_seconds: float = 0.2,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        # Proxies from the environment are ignored: where to reach a system is configuration.
        self._client = httpx.Client(
            base_url=base_url, timeout=timeout, transport=transport, trust_env=False
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        retry_unsafe: bool = False,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; retry transport failures and retryable statuses.

        A non-idempotent request (POST) is retried only on connection failures, where it
        cannot have reached the server, unless the caller says the call is safe to repeat.
        Any answer below 500 other than 429 is returned for the caller to interpret.
        ``content`` sends exact bytes (a signed body); the journal shows the JSON in it
        masked, or its size.
        """
        method = method.upper()
        journal_body = _decoded(content) if content is not None else json
        repeatable = retry_unsafe or method in IDEMPOTENT_METHODS
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._client.request(
                    method, path, json=json, params=params, content=content, headers=headers
                )
            except httpx.TimeoutException as error:
                self._journal(
                    method, path, journal_body, None, started, attempt, type(error).__name__
                )
                # A read timeout may mean the server acted; only connect timeouts are safe.
                safe = repeatable or isinstance(error, httpx.ConnectTimeout)
                if safe and attempt <= self.retries:
                    self._pause(attempt)
                    continue
                raise OutboundError(
                    f"{self.system} did not answer in time", retryable=True
                ) from error
            except httpx.TransportError as error:
                self._journal(
                    method, path, journal_body, None, started, attempt, type(error).__name__
                )
                safe = repeatable or isinstance(error, httpx.ConnectError)
                if safe and attempt <= self.retries:
                    self._pause(attempt)
                    continue
                raise OutboundError(
                    f"{self.system} unreachable: {error}", retryable=True
                ) from error
            self._journal(method, path, journal_body, response, started, attempt, "")
            if response.status_code in RETRYABLE_STATUSES or response.status_code >= 500:
                retryable = response.status_code in RETRYABLE_STATUSES
                if retryable and repeatable and attempt <= self.retries:
                    self._pause(attempt)
                    continue
                raise OutboundError(
                    f"{self.system} answered HTTP {response.status_code}",
                    retryable=retryable or response.status_code >= 500,
                    status=response.status_code,
                )
            return response

    def _pause(self, attempt: int) -> None:
        time.sleep(self.backoff_seconds * 2 ** (attempt - 1))

    def _journal(
        self,
        method: str,
        path: str,
        body: Any,
        response: httpx.Response | None,
        started: float,
        attempt: int,
        failure: str,
    ) -> None:
        elapsed_ms = round((time.monotonic() - started) * 1000)
        answer: Any = failure
        if response is not None:
            try:
                answer = mask_for_journal(response.json())
            except ValueError:
                answer = f"<{len(response.content)} bytes>"
        journal.info(
            "%s %s %s attempt=%d status=%s elapsed_ms=%d request=%s response=%s",
            self.system,
            method,
            path,
            attempt,
            response.status_code if response is not None else "-",
            elapsed_ms,
            mask_for_journal(body) if body is not None else "-",
            answer,
        )
