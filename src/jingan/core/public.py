"""The one door of ``jingan.core``: what other contexts and the wiring may call."""

from __future__ import annotations

from jingan.core.audit.services import record_event, record_personal_data_read
from jingan.core.audit.tasks import sign_audit_checkpoint, verify_audit_chain
from jingan.core.messaging.contracts import (
    ResidentRecipient,
    StaffRecipient,
    WeChatPayload,
)
from jingan.core.messaging.delivery import sweep_outbox
from jingan.core.messaging.services import (
    notify,
    notify_permission_holders,
    unread_count_for_staff,
)
from jingan.core.residents.contracts import ResidentSummary
from jingan.core.residents.public import current_resident_summary
from jingan.core.runtime.health import (
    COMPONENT_TITLES,
    ComponentHealth,
    PlatformHealth,
    platform_health,
)
from jingan.core.runtime.services import record_heartbeat

__all__ = [
    "COMPONENT_TITLES",
    "ComponentHealth",
    "PlatformHealth",
    "ResidentRecipient",
    "ResidentSummary",
    "StaffRecipient",
    "WeChatPayload",
    "current_resident_summary",
    "notify",
    "notify_permission_holders",
    "platform_health",
    "record_event",
    "record_heartbeat",
    "record_personal_data_read",
    "sign_audit_checkpoint",
    "sweep_outbox",
    "unread_count_for_staff",
    "verify_audit_chain",
]
