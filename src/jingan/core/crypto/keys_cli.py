"""Key management commands: ``jingan rotate-keys`` and ``jingan init-keyring``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("rotate-keys")
@click.option(
    "--blind-index",
    "blind_index",
    is_flag=True,
    help="Also rotate the blind-index key and rebuild every blind index (search may miss "
    "not-yet-rebuilt rows while it runs).",
)
@click.option(
    "--retire",
    is_flag=True,
    help="Instead of rotating: destroy old key versions once no row uses them any more.",
)
@click.option("--status", is_flag=True, help="Only show key versions and rotation progress.")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--yes", is_flag=True, help="Do not ask before retiring keys.")
def rotate_keys(blind_index: bool, retire: bool, status: bool, batch_size: int, yes: bool) -> None:
    """Add a new version of the field key and re-encrypt every encrypted column under it.

    Resumable: run it again after an interruption and it continues where it stopped.
    Rows not yet re-encrypted stay readable throughout (old versions are kept until
    --retire, which refuses while any row still uses them). Back up the keyring file
    before retiring: backups made under an old version need it to be restored.
    """
    from jingan.core.crypto.errors import CryptoError
    from jingan.core.crypto.fields import BLIND_INDEX_PURPOSE, FIELD_PURPOSE
    from jingan.core.crypto.keyring import get_keyring
    from jingan.core.crypto.models import RotationCursor
    from jingan.core.crypto.rotation import (
        retire_old_keys,
        rotate_encryption_keys,
        rotation_plan,
    )

    purposes = [FIELD_PURPOSE, BLIND_INDEX_PURPOSE] if blind_index else [FIELD_PURPOSE]
    try:
        if status:
            for info in get_keyring().describe():
                if info.kind != "symmetric":
                    continue
                state = f"retired {info.retired}" if info.retired else "kept"
                click.echo(
                    f"{info.purpose:<14} v{info.version:<3} {info.key_id}  {info.created}  {state}"
                )
            for cursor in RotationCursor.objects.order_by("pk"):
                done = (
                    f"finished {cursor.finished_at:%Y-%m-%d %H:%M}"
                    if cursor.finished_at
                    else "UNFINISHED"
                )
                click.echo(
                    f"rotation {cursor.purpose} v{cursor.target_version} {cursor.model_label}: "
                    f"{cursor.rows_done} rows, {cursor.rows_rewritten} rewritten, {done}"
                )
            return
        if retire:
            if not yes:
                click.confirm(
                    "Retiring destroys old key versions; backups made under them can no longer "
                    "be restored. Is the keyring file backed up?",
                    abort=True,
                )
            for purpose in purposes:
                retired = retire_old_keys(purpose=purpose)
                listed = ", ".join(f"v{v}" for v in retired) or "nothing"
                click.echo(f"{purpose}: retired {listed}")
            return
        for purpose in purposes:
            plan, rows = rotation_plan(purpose)
            resuming = any(cursor is not None for _, cursor in plan)
            label = f"{'Resuming' if resuming else 'Rotating'} {purpose} ({len(plan)} models)"
            with click.progressbar(length=rows, label=label, show_pos=True) as bar:
                report = rotate_encryption_keys(
                    purpose=purpose, batch_size=batch_size, advance=bar.update
                )
            rewritten = sum(m.rows_rewritten for m in report.models)
            click.echo(
                f"{purpose}: now v{report.target_version}; {rewritten} rows rewritten"
                f"{' (resumed)' if report.resumed else ''}."
            )
            for model in report.models:
                click.echo(
                    f"  {model.model_label}: {model.rows_done} rows, {model.rows_rewritten} rewritten"
                )
    except CryptoError as error:
        raise click.ClickException(str(error)) from None


@click.command("init-keyring")
@click.option(
    "--path",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to create the keyring (point JINGAN_KEYRING at it).",
)
def init_keyring(path: Path) -> None:
    """Provision a new keyring file (mode 0600) with a first version of every key.

    For production, where the platform refuses to create keys by itself. Refuses to
    overwrite an existing file.
    """
    from jingan.core.crypto.keyring import SIGNING_PURPOSES, Keyring

    if path.exists():
        raise click.ClickException(f"{path} already exists; it is never overwritten")
    keyring = Keyring(path, may_create=True)
    for purpose in ("field", "blind-index", "audit-chain", "access-mac"):
        keyring.current(purpose)
    for purpose in sorted(SIGNING_PURPOSES):
        keyring.signing_key(purpose)
    click.echo(f"Created {path} (mode 0600). Back it up somewhere safe and separate from the data.")


COMMANDS = [rotate_keys, init_keyring]
