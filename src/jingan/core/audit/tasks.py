"""Periodic jobs of the audit log (scheduled in ``jingan/config/schedules.py``)."""

from __future__ import annotations

from jingan.core.audit.services import run_verification, sign_checkpoint


def sign_audit_checkpoint() -> None:
    """Hourly: SM2-sign the chain head, linked to the previous checkpoint."""
    sign_checkpoint()


def verify_audit_chain() -> None:
    """Nightly: walk the whole chain; a failure alerts the auditors."""
    run_verification()
