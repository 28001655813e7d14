"""What callers hand to ``notify``: recipients and the optional WeChat push."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class StaffRecipient:
    """A staff member (``accounts.User``) who reads the message in the console."""

    user_id: int


@dataclass(frozen=True)
class ResidentRecipient:
    """A resident (``residents.Resident``) who reads the message in the H5 pages."""

    resident_id: int


Recipient = StaffRecipient | ResidentRecipient


@dataclass(frozen=True)
class WeChatPayload:
    """A public-account template message or subscribe notice sent beside the in-app message."""

    kind: Literal["template", "subscribe"]
    template_id: str
    data: dict[str, str]
    url: str = ""


@dataclass(frozen=True)
class Notice:
    """One message of a ``notify_many`` call (each with its own words and key)."""

    recipient: Recipient
    title: str
    body: str
    category: str
    link: str = ""
    dedup_key: str = ""
    wechat: WeChatPayload | None = None
