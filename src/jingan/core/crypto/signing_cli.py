"""Command-line groups for API clients (``jingan api-client``) and the release manifest
(``jingan release``); listed in ``COMMANDS`` of this app's ``cli.py``."""

from __future__ import annotations

import sys

import click


@click.group("api-client")
def api_client() -> None:
    """External systems that call the API with SM2-signed requests (HIS, record systems)."""


@api_client.command("create")
@click.option("--app-id", required=True, help="Application id the system sends as X-Jingan-App-Id.")
@click.option("--name", required=True, help="Human-readable name, e.g. the vendor and system.")
@click.option("--institution-id", type=int, default=None, help="Institution the system belongs to.")
@click.option(
    "--public-key",
    default=None,
    help="The system's own SM2 public key (04 + 128 hex). Without it a key pair is generated "
    "and the private key printed once.",
)
def create_client(
    app_id: str, name: str, institution_id: int | None, public_key: str | None
) -> None:
    """Register a system; prints its private key ONCE (only the public key is stored)."""
    from jingan.core.crypto.requests import (
        ApiClientError,
        create_api_client,
        register_api_client,
    )

    try:
        if public_key:
            client = register_api_client(
                actor=None,
                app_id=app_id,
                name=name,
                public_key_hex=public_key,
                institution_id=institution_id,
            )
            private_key = None
        else:
            client, private_key = create_api_client(
                actor=None, app_id=app_id, name=name, institution_id=institution_id
            )
    except ApiClientError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"已登记接入应用 {client.app_id}（{client.name}）")
    click.echo(f"SM2 公钥：{client.public_key_hex}")
    if private_key:
        click.echo("SM2 私钥（只显示这一次，平台不保存，请安全交付给接入方）：")
        click.echo(private_key)


@api_client.command("list")
def list_clients() -> None:
    """List registered systems with their state and last call."""
    from django.utils import timezone

    from jingan.core.crypto.models import ApiClient

    clients = list(ApiClient.objects.order_by("app_id"))
    if not clients:
        click.echo("尚未登记任何接入应用。")
        return
    for client in clients:
        state = "启用" if client.is_active else "停用"
        last = (
            timezone.localtime(client.last_used_at).strftime("%Y-%m-%d %H:%M:%S")
            if client.last_used_at
            else "从未调用"
        )
        institution = client.institution_id if client.institution_id is not None else "-"
        click.echo(f"{client.app_id}\t{client.name}\t机构 {institution}\t{state}\t{last}")


@api_client.command("disable")
@click.option("--app-id", required=True, help="Application id to disable.")
def disable_client(app_id: str) -> None:
    """Refuse every further request signed by this system."""
    from jingan.core.crypto.requests import ApiClientError, disable_api_client

    try:
        disable_api_client(actor=None, app_id=app_id)
    except ApiClientError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"已停用接入应用 {app_id}")


@click.group("release")
def release() -> None:
    """The SM2-signed release manifest checked when the platform starts."""


@release.command("sign")
@click.option(
    "--package-root",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Package directory (default: the installed jingan package).",
)
def sign(package_root: str | None) -> None:
    """Digest every file of the package with SM3 and sign the list with the release key."""
    from pathlib import Path

    from jingan.core.crypto.manifest import sign_release

    target, signed = sign_release(Path(package_root) if package_root else None)
    click.echo(
        f"已签名发布清单：{len(signed.manifest.files)} 个文件，"
        f"发布密钥第 {signed.key_version} 版 → {target}"
    )


@release.command("verify")
@click.option(
    "--package-root",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Package directory (default: the installed jingan package).",
)
def verify(package_root: str | None) -> None:
    """Check the manifest's signature and every file; exit 1 naming what differs."""
    from pathlib import Path

    from jingan.core.crypto.manifest import installed_package_root, verify_release

    report = verify_release(Path(package_root) if package_root else installed_package_root())
    if report.ok:
        click.echo(f"{report.summary()}（{report.files_checked} 个文件）")
        return
    click.echo(report.summary(), err=True)
    sys.exit(1)


COMMANDS = [api_client, release]
