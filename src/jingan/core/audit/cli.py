"""``jingan verify-audit`` and ``jingan audit-checkpoint``; listed in ``COMMANDS``."""

from __future__ import annotations

import sys

import click


@click.command("verify-audit")
@click.option("--quiet", is_flag=True, help="No progress bar (for cron and scripts).")
def verify_audit(quiet: bool) -> None:
    """Walk the whole audit chain: MACs, sequence, links, chain head, SM2 checkpoints.

    Exits 0 with a summary when the chain is intact; exits 1 naming the first bad
    entry (sequence and what is wrong) otherwise. The result is kept for the
    auditors' page, and a failure alerts every auditor.
    """
    from jingan.core.audit.services import run_verification
    from jingan.core.audit.verification import entry_count

    if quiet:
        report = run_verification()
    else:
        with click.progressbar(
            length=entry_count(), label="校验审计链", show_pos=True, file=sys.stderr
        ) as bar:
            report = run_verification(progress=bar.update)
    if not report.ok:
        click.echo(report.summary, err=True)
        raise SystemExit(1)
    click.echo(report.summary)


@click.command("audit-checkpoint")
def audit_checkpoint() -> None:
    """Sign an SM2 checkpoint over the audit chain's head now (also runs every hour)."""
    from jingan.core.audit.services import sign_checkpoint

    checkpoint = sign_checkpoint()
    if checkpoint is None:
        click.echo("自上一检查点以来没有新的审计记录，无需签名。")
        return
    click.echo(f"已签名检查点 #{checkpoint.sequence}（SM2 密钥版本 {checkpoint.key_version}）。")


COMMANDS = [verify_audit, audit_checkpoint]
