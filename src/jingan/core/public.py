"""The one door of ``jingan.core``: what other contexts and the wiring may call."""

from __future__ import annotations

from jingan.core.access.scoping import ScopedManager, ScopedQuerySet, get_for_user
from jingan.core.access.services import users_with_permission
from jingan.core.audit.services import record_event, record_personal_data_read
from jingan.core.audit.tasks import sign_audit_checkpoint, verify_audit_chain
from jingan.core.crypto.errors import DecryptionError
from jingan.core.crypto.fields import (
    BlindIndexField,
    EncryptedModel,
    EncryptedTextField,
    blind_index,
    normalize_id_number,
    normalize_mobile,
)
from jingan.core.crypto.files import decrypt_file_bytes, encrypt_file_bytes
from jingan.core.crypto.primitives import sm3_hex, sm4_gcm_decrypt, sm4_gcm_encrypt
from jingan.core.crypto.records import (
    sign_record,
    store_record_signature,
    verify_record,
    verify_stored_record,
)
from jingan.core.crypto.requests import SM2RequestAuth, create_api_client, sign_request
from jingan.core.crypto.sm2 import Sm2KeyPair, generate_keypair
from jingan.core.crypto.sm2 import get_backend as get_sm2_backend
from jingan.core.dictionary.queries import entries as dictionary_entries
from jingan.core.dictionary.queries import institution_setting, label_for
from jingan.core.dictionary.services import set_institution_settings
from jingan.core.messaging.contracts import (
    Notice,
    ResidentRecipient,
    StaffRecipient,
    WeChatPayload,
)
from jingan.core.messaging.delivery import sweep_outbox
from jingan.core.messaging.services import (
    notify,
    notify_many,
    notify_permission_holders,
    unread_count_for_staff,
)
from jingan.core.residents.auth import get_current_resident, resident_required
from jingan.core.residents.contracts import ResidentSummary
from jingan.core.residents.identity import IdFacts, InvalidIdNumber, check_id_number
from jingan.core.residents.public import (
    current_resident_summary,
    resident_account_pseudonym,
    resident_rows_for_day,
    verified_resident_ids_for_id_number,
    verified_residents_by_id_number,
)
from jingan.core.runtime.health import (
    COMPONENT_TITLES,
    ComponentHealth,
    PlatformHealth,
    platform_health,
)
from jingan.core.runtime.services import record_heartbeat

__all__ = [
    "BlindIndexField",
    "DecryptionError",
    "IdFacts",
    "InvalidIdNumber",
    "EncryptedModel",
    "EncryptedTextField",
    "SM2RequestAuth",
    "ScopedManager",
    "ScopedQuerySet",
    "blind_index",
    "check_id_number",
    "create_api_client",
    "decrypt_file_bytes",
    "dictionary_entries",
    "encrypt_file_bytes",
    "get_current_resident",
    "get_for_user",
    "generate_keypair",
    "get_sm2_backend",
    "Sm2KeyPair",
    "institution_setting",
    "set_institution_settings",
    "label_for",
    "normalize_id_number",
    "normalize_mobile",
    "resident_required",
    "sign_record",
    "sign_request",
    "sm3_hex",
    "sm4_gcm_decrypt",
    "sm4_gcm_encrypt",
    "store_record_signature",
    "users_with_permission",
    "verify_record",
    "verify_stored_record",
    "COMPONENT_TITLES",
    "ComponentHealth",
    "PlatformHealth",
    "ResidentRecipient",
    "ResidentSummary",
    "StaffRecipient",
    "WeChatPayload",
    "current_resident_summary",
    "resident_account_pseudonym",
    "resident_rows_for_day",
    "Notice",
    "notify",
    "notify_many",
    "notify_permission_holders",
    "platform_health",
    "record_event",
    "record_heartbeat",
    "record_personal_data_read",
    "sign_audit_checkpoint",
    "sweep_outbox",
    "unread_count_for_staff",
    "verify_audit_chain",
    "verified_resident_ids_for_id_number",
    "verified_residents_by_id_number",
]
