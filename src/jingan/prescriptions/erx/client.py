"""The platform's one door to the e-prescription centre: connection, port and journal.

``call_centre`` sends one operation through the institution's port, journals it as a
``CentreCall`` whatever happens (plaintext masked, ciphertext envelopes kept), keeps the
connection's health current and turns refusals and failures into ``ErxError`` with a
Chinese message. Calls are written outside the caller's business transaction, so the
journal keeps a failed attempt even when the caller's work rolls back.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jingan.core.public import get_sm2_backend
from jingan.integrations.erx_centre.envelope import AppCredentials, decrypt_data, derive_data_key
from jingan.integrations.erx_centre.port import (
    IDEMPOTENT_OPERATIONS,
    OPERATION_TITLES,
    CentreAnswer,
    CentreError,
    CentreProfile,
    ErxCentrePort,
    Operation,
)
from jingan.lib import masking
from jingan.lib.http import mask_for_journal
from jingan.prescriptions.erx.errors import ErrorCode, ErxError
from jingan.prescriptions.erx.models import CallOutcome, CentreCall, CentreConnection

if TYPE_CHECKING:
    from jingan.prescriptions.erx.models import Prescription

logger = logging.getLogger(__name__)

# The centre's camelCase keys that carry personal data, and how each is masked in the
# journal (lib.http's maskers only know the platform's snake_case names).
CENTRE_MASKERS: dict[str, Callable[[str], str]] = {
    "patnName": masking.mask_name,
    "psnName": masking.mask_name,
    "certno": masking.mask_id_number,
    "mdtrtCertNo": masking.mask_id_number,
    "pharCertno": masking.mask_id_number,
    "undoDrCertno": masking.mask_id_number,
}
# Opaque blobs: a token that lets anyone fetch the prescription, Base64 files and the
# sign original (Base64 JSON that itself holds the patient's name and ID number).
SUMMARISED_KEYS = frozenset({"originalValue", "originalRxFile", "rxFile", "ecToken"})

# A call replayed from the console links its new journal row to the original.
_replay_of: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "erx_replay_of", default=None
)
PortFactory = Callable[[CentreConnection], ErxCentrePort]
_port_override: contextvars.ContextVar[PortFactory | None] = contextvars.ContextVar(
    "erx_port_override", default=None
)


def mask_centre_data(value: Any, key: str = "") -> Any:
    """A copy of a centre business object safe to journal: personal data masked."""
    if key in SUMMARISED_KEYS and isinstance(value, str):
        return f"<{len(value)} chars>"
    if isinstance(value, Mapping):
        return {k: mask_centre_data(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_centre_data(item, key) for item in value]
    if isinstance(value, str):
        masker = CENTRE_MASKERS.get(key)
        if masker is not None:
            return masker(value)
        return masking.mask_text(mask_for_journal(value, key))
    return mask_for_journal(value, key)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# -- configuration ----------------------------------------------------------------------


def profile() -> CentreProfile:
    """The centre's address, version and paths from ``settings.ERX_CENTRE``."""
    config: dict[str, Any] = dict(settings.ERX_CENTRE)
    return CentreProfile(
        base_url=str(config["api_base_url"]).rstrip("/"),
        version=str(config.get("version") or "1.0.0"),
        enc_type=str(config.get("enc_type") or "SM4"),
        sign_type=str(config.get("sign_type") or "SM2"),
        path_prefix=str(config.get("path_prefix") or "/fixmedins"),
        paths=dict(config.get("paths") or {}),
        timeout_seconds=float(config.get("timeout_seconds") or 10.0),
    )


def connection_for(institution_id: int, *, require_enabled: bool = True) -> CentreConnection:
    """The institution's centre connection; ErxError when there is none or it is off."""
    connection = (
        CentreConnection.objects.unscoped()
        .select_related("institution")
        .filter(institution_id=institution_id)
        .first()
    )
    if connection is None:
        raise ErxError(ErrorCode.NO_CONNECTION, "本机构尚未配置医保电子处方中心接入")
    if require_enabled and not connection.is_enabled:
        raise ErxError(ErrorCode.CONNECTION_DISABLED, "本机构的医保电子处方中心接入已停用")
    return connection


def credentials_for(connection: CentreConnection) -> AppCredentials:
    return AppCredentials(
        app_id=connection.app_id,
        app_secret=connection.app_secret,
        private_key_hex=connection.private_key_hex,
        public_key_hex=connection.public_key_hex,
    )


def port_for(connection: CentreConnection) -> ErxCentrePort:
    """The HTTP adapter speaking to the centre as ``connection``'s institution."""
    override = _port_override.get()
    if override is not None:
        return override(connection)
    from jingan.integrations.erx_centre.adapter import HttpErxCentre

    return HttpErxCentre(
        profile=profile(),
        credentials=credentials_for(connection),
        centre_public_key_hex=connection.centre_public_key_hex,
        backend=get_sm2_backend(),
    )


@contextlib.contextmanager
def using_port(factory: PortFactory) -> Iterator[None]:
    """Use ``factory`` instead of the HTTP adapter (tools and tests that bring their own)."""
    token = _port_override.set(factory)
    try:
        yield
    finally:
        _port_override.reset(token)


@contextlib.contextmanager
def replaying(call_id: int) -> Iterator[None]:
    """Journal the calls made inside as replays of ``call_id``."""
    token = _replay_of.set(call_id)
    try:
        yield
    finally:
        _replay_of.reset(token)


def decrypt_request(connection: CentreConnection, call: CentreCall) -> dict[str, Any]:
    """The original business object of a journaled call, from its kept ciphertext."""
    try:
        envelope = json.loads(call.request_envelope or "{}")
    except ValueError:
        envelope = {}
    enc_data = str(envelope.get("encData") or "") if isinstance(envelope, dict) else ""
    if not enc_data:
        raise ErxError(ErrorCode.NOT_REPLAYABLE, "该调用没有保存请求报文，无法重放")
    key = derive_data_key(connection.app_id, connection.app_secret)
    return decrypt_data(key, enc_data)


# -- the call ---------------------------------------------------------------------------


def _journal(
    *,
    connection: CentreConnection,
    operation: Operation,
    path: str,
    data: Mapping[str, Any],
    actor_label: str,
    prescription: Prescription | None,
    outcome: str,
    answer: CentreAnswer | None = None,
    error: CentreError | None = None,
) -> CentreCall:
    request_envelope: Mapping[str, Any] = (
        answer.request_envelope if answer is not None else (error.request_envelope if error else {})
    )
    if answer is not None:
        response_masked = _json(mask_centre_data(answer.data)) if answer.data else ""
        response_envelope = _json(answer.response_envelope)
        code: int | None = answer.code
        message = answer.message
        elapsed = answer.elapsed_ms
    else:
        response_masked = ""
        # The raw body is what came back unverified (or nothing); mask IDs in it anyway.
        response_envelope = masking.mask_text(error.response_body if error else "")
        code = None
        message = error.message if error else ""
        elapsed = 0
    # Autocommitted (or a savepoint of the caller's transaction): see the module docstring.
    with transaction.atomic():
        call = CentreCall.objects.create(
            institution_id=connection.institution_id,
            prescription=prescription,
            operation=operation.value,
            path=path,
            request_masked=_json(mask_centre_data(dict(data))),
            request_envelope=_json(dict(request_envelope)) if request_envelope else "",
            response_masked=response_masked,
            response_envelope=response_envelope,
            outcome=outcome,
            code=code,
            message=message[:2000],
            may_have_reached=bool(error is not None and error.reached),
            elapsed_ms=max(0, int(elapsed)),
            attempted_at=timezone.now(),
            actor_label=actor_label[:100],
            replay_of_id=_replay_of.get(),
        )
        now = timezone.now()
        if outcome == CallOutcome.FAILED:
            CentreConnection.objects.unscoped().filter(pk=connection.pk).update(
                last_failure_at=now, last_failure_reason=message[:1000]
            )
        else:
            # A business refusal is a healthy connection: the centre answered and signed.
            CentreConnection.objects.unscoped().filter(pk=connection.pk).update(last_success_at=now)
    return call


def call_centre(
    *,
    connection: CentreConnection,
    operation: Operation,
    data: Mapping[str, Any],
    actor: Any,
    prescription: Prescription | None = None,
) -> CentreAnswer:
    """Send one operation, journal it and return the verified successful answer.

    Raises ErxError: CENTRE_REFUSED (the centre's own message kept, ``centre_code`` set)
    for a non-zero code; CENTRE_UNCERTAIN when a non-idempotent call may have reached
    the centre without an answer (reconcile with a query, never resend blindly);
    CENTRE_UNAVAILABLE for any other failure.
    """
    actor_label = str(getattr(actor, "label", "") or "系统")
    title = OPERATION_TITLES.get(operation, operation.value)
    path = profile().path(operation)
    try:
        port = port_for(connection)
        answer = port.call(operation, data)
    except CentreError as error:
        call = _journal(
            connection=connection,
            operation=operation,
            path=path,
            data=data,
            actor_label=actor_label,
            prescription=prescription,
            outcome=CallOutcome.FAILED,
            error=error,
        )
        logger.warning(
            "erx centre call %s failed (call %s, reached=%s): %s",
            operation.value,
            call.pk,
            error.reached,
            masking.mask_text(error.message),
        )
        if error.reached and operation not in IDEMPOTENT_OPERATIONS:
            raise ErxError(
                ErrorCode.CENTRE_UNCERTAIN,
                f"{title}已发出但未收到处方中心应答（{error.message}），结果待核对",
            ) from error
        raise ErxError(
            ErrorCode.CENTRE_UNAVAILABLE,
            f"{title}失败：处方中心暂时无法访问（{error.message}），请稍后重试",
        ) from error
    if not answer.ok:
        call = _journal(
            connection=connection,
            operation=operation,
            path=path,
            data=data,
            actor_label=actor_label,
            prescription=prescription,
            outcome=CallOutcome.REFUSED,
            answer=answer,
        )
        logger.info(
            "erx centre refused %s (call %s): %s %s",
            operation.value,
            call.pk,
            answer.code,
            masking.mask_text(answer.message),
        )
        raise ErxError(
            ErrorCode.CENTRE_REFUSED,
            f"处方中心拒绝{title}：{answer.message}（代码 {answer.code}）",
            centre_code=answer.code,
        )
    _journal(
        connection=connection,
        operation=operation,
        path=path,
        data=data,
        actor_label=actor_label,
        prescription=prescription,
        outcome=CallOutcome.OK,
        answer=answer,
    )
    return answer
