"""The inputs of the event centre: MLLP listener (A), push API (B and third parties),
pollers (C, D), AMQP consumer. Each hands raw messages to ``centre.journal.take``.

``parser_for(channel)`` is how a kept (rejected) message is parsed again on replay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from jingan.integrations.his.port import HisEvent

Parser = Callable[[str], Iterable[HisEvent]]

CHANNELS: dict[str, str] = {
    "hl7": "HL7 v2（MLLP）",
    "rest": "REST 推送",
    "soap": "SOAP 轮询",
    "views": "数据库视图轮询",
    "amqp": "消息队列（AMQP）",
    "api": "第三方接口",
}


def parser_for(channel: str, source: str = "") -> Parser:
    """The parser of ``channel``'s raw messages (imported on demand).

    ``source``: the channel identity the message came in under (a third party's app id),
    so a replayed message lands under the same source as it would have live.
    """
    if channel == "hl7":
        from jingan.integrations.his.hl7.codec import parse_message

        return parse_message
    if channel == "rest":
        from jingan.integrations.his.rest.codec import parse_push

        return parse_push
    if channel == "soap":
        from jingan.integrations.his.soap.codec import parse_record

        return parse_record
    if channel == "views":
        from jingan.integrations.his.views.codec import parse_row

        return parse_row
    if channel in ("amqp", "api"):
        from jingan.integrations.his.canonical import parse_canonical

        return lambda raw: parse_canonical(raw, default_source=source or channel)
    raise KeyError(channel)
