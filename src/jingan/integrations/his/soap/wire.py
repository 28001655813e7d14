"""Dialect C transport: SOAP 1.1 (document/literal) with one operation, and the message-log
query the platform polls with.

Request (``POST`` to the institution's endpoint, ``SOAPAction: "urn:hl7-org:v3/HIPMessageServer"``)::

    <soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
      <HIPMessageServer xmlns="urn:hl7-org:v3">
        <action>MessageQuery</action><message>{v3 XML, escaped}</message>
      </HIPMessageServer></soap:Body></soap:Envelope>

answered by ``<HIPMessageServerResponse><HIPMessageServerResult>{v3 XML, escaped}
</HIPMessageServerResult></HIPMessageServerResponse>``, or a SOAP Fault (HTTP 500; 503
while the HIS is down).

``MessageQuery`` (interaction ``VND_IN900300UV``, modelled on PRPA_IN900300UV) asks for
the messages the HIS published after a watermark, oldest first::

    <controlActProcess><queryByParameter>
      <queryId extension="{uuid}"/><statusCode code="new"/><initialQuantity value="500"/>
      <parameterList>
        <publishedTime><value><low value="20261126093001"/></value></publishedTime>
        <sequenceNumber><value value="1234"/></sequenceNumber>
      </parameterList></queryByParameter></controlActProcess>

The HIS numbers its message log (``sequenceNumber``, increasing) and stamps when each
message entered it (``publishedTime``, never decreasing). The time bound lets the HIS use
its index; the sequence number makes the watermark exact, so a message published late
with an early ``creationTime`` is still read. The reply is ``MCCI_IN000002UV01`` with
``acknowledgement typeCode="AA"`` (``AE`` and a ``acknowledgementDetail/text`` on
error), a ``queryAck`` with ``resultTotalQuantity`` / ``resultCurrentQuantity`` /
``resultRemainingQuantity``, and one ``subject/publishedMessage`` per message holding its
``sequenceNumber``, ``publishedTime`` and the message itself as escaped ``text`` (so one
broken message does not break the reply).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from xml.sax.saxutils import escape

from jingan.integrations.his.soap.codec import ACTIONS, PLATFORM_DEVICE, message_header
from jingan.integrations.his.soap.xmlsafe import (
    attribute,
    element,
    format_ts,
    parse_ts,
    parse_xml,
    serialize,
    sub,
    text_of,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = "urn:hl7-org:v3"
OPERATION = "HIPMessageServer"
SOAP_ACTION = f'"{SERVICE_NS}/{OPERATION}"'
SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
QUERY_ACTION = "MessageQuery"
REPLY_INTERACTION = "MCCI_IN000002UV01"
MAX_QUERY_LIMIT = 1000


class SoapFault(Exception):
    """A SOAP Fault (or an envelope that is not one we can read)."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


# -- SOAP 1.1 envelope --------------------------------------------------------------------


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body>{body}</soap:Body></soap:Envelope>'
    ).encode()


def soap_request(action: str, message: str) -> bytes:
    return _envelope(
        f'<{OPERATION} xmlns="{SERVICE_NS}"><action>{escape(action)}</action>'
        f"<message>{escape(message)}</message></{OPERATION}>"
    )


def soap_response(result: str) -> bytes:
    return _envelope(
        f'<{OPERATION}Response xmlns="{SERVICE_NS}">'
        f"<{OPERATION}Result>{escape(result)}</{OPERATION}Result></{OPERATION}Response>"
    )


def soap_fault(code: str, text: str) -> bytes:
    return _envelope(
        f"<soap:Fault><faultcode>{escape(code)}</faultcode>"
        f"<faultstring>{escape(text)}</faultstring></soap:Fault>"
    )


def _body(raw: bytes) -> ET.Element:
    try:
        root = parse_xml(raw)
    except (ET.ParseError, ValueError) as error:
        raise SoapFault("soap:Client", f"不是可解析的 SOAP 报文：{error}") from None
    if root.tag != "Envelope" or (body := root.find("Body")) is None or not len(body):
        raise SoapFault("soap:Client", "不是 SOAP 1.1 信封（缺少 Envelope/Body）")
    return body[0]


def read_soap_request(raw: bytes) -> tuple[str, str]:
    """``(action, message)`` of a ``HIPMessageServer`` call; ``SoapFault`` if it is not one."""
    operation = _body(raw)
    if operation.tag != OPERATION:
        raise SoapFault("soap:Client", f"不支持的操作 {operation.tag[:60]}")
    return text_of(operation.find("action")), operation.findtext("message") or ""


def read_soap_response(raw: bytes) -> str:
    """The ``HIPMessageServerResult`` text; ``SoapFault`` for a fault or a foreign answer."""
    answer = _body(raw)
    if answer.tag == "Fault":
        raise SoapFault(text_of(answer.find("faultcode")), text_of(answer.find("faultstring")))
    if answer.tag != f"{OPERATION}Response":
        raise SoapFault("soap:Client", f"意外的应答元素 {answer.tag[:60]}")
    return answer.findtext(f"{OPERATION}Result") or ""


# -- the watermark -------------------------------------------------------------------------


@dataclass(frozen=True)
class Watermark:
    """How far the platform has read an institution's message log."""

    published_at: datetime | None = None
    sequence: int = 0

    def text(self) -> str:
        if self.published_at is None:
            return ""
        return f"{format_ts(self.published_at.replace(microsecond=0))}|{self.sequence}"

    @classmethod
    def parse(cls, text: str) -> Watermark:
        """``""`` (from the beginning) or ``yyyyMMddHHmmss|sequence``; ``ValueError`` else."""
        if not text.strip():
            return cls()
        stamp, _, sequence = text.strip().partition("|")
        if not sequence.isdigit():
            raise ValueError(f"bad SOAP watermark {text!r}")
        return cls(parse_ts(stamp), int(sequence))


# -- MessageQuery ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageQuery:
    query_id: str
    institution_code: str
    after: Watermark
    limit: int


def query_message(query: MessageQuery, *, now: datetime) -> str:
    interaction = ACTIONS[QUERY_ACTION]
    root = element(interaction, ITSVersion="XML_1.0")
    message_header(
        root,
        message_id=query.query_id,
        created_at=now,
        interaction=interaction,
        sender=PLATFORM_DEVICE,
        receiver=query.institution_code,
    )
    control = sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    by_parameter = sub(control, "queryByParameter")
    sub(by_parameter, "queryId", extension=query.query_id)
    sub(by_parameter, "statusCode", code="new")
    sub(by_parameter, "initialQuantity", value=str(query.limit))
    parameters = sub(by_parameter, "parameterList")
    if query.after.published_at is not None:
        low = sub(sub(parameters, "publishedTime"), "value")
        sub(low, "low", value=format_ts(query.after.published_at.replace(microsecond=0)))
    sub(sub(parameters, "sequenceNumber"), "value", value=str(query.after.sequence))
    return serialize(root)


def _parsed(text: str) -> ET.Element:
    try:
        return parse_xml(text)
    except ET.ParseError as error:
        raise ValueError(f"不是格式正确的 XML：{error}") from None


def read_query(message: str) -> MessageQuery:
    """The query of a ``MessageQuery`` message; ``ValueError`` saying what is wrong."""
    root = _parsed(message)
    if root.tag != ACTIONS[QUERY_ACTION]:
        raise ValueError(f"不是 {QUERY_ACTION} 消息：{root.tag[:60]}")
    parameters = root.find("controlActProcess/queryByParameter")
    if parameters is None:
        raise ValueError("缺少 queryByParameter")
    low = attribute(parameters.find("parameterList/publishedTime/value/low"), "value")
    sequence = attribute(parameters.find("parameterList/sequenceNumber/value"), "value") or "0"
    limit = attribute(parameters.find("initialQuantity"), "value") or str(MAX_QUERY_LIMIT)
    if not sequence.isdigit() or not limit.isdigit():
        raise ValueError("sequenceNumber 与 initialQuantity 须为非负整数")
    return MessageQuery(
        query_id=attribute(parameters.find("queryId"), "extension")
        or attribute(root.find("id"), "extension"),
        institution_code=attribute(root.find("receiver/device/id/item"), "extension"),
        after=Watermark(parse_ts(low) if low else None, int(sequence)),
        limit=min(int(limit), MAX_QUERY_LIMIT),
    )


@dataclass(frozen=True)
class PublishedMessage:
    sequence: int
    published_at: datetime
    text: str

    @property
    def watermark(self) -> Watermark:
        return Watermark(self.published_at, self.sequence)


@dataclass(frozen=True)
class QueryReply:
    institution_code: str
    acknowledgement: str = "AA"
    detail: str = ""
    messages: list[PublishedMessage] = field(default_factory=list)
    total: int = 0
    remaining: int = 0


def reply_message(reply: QueryReply, *, query_id: str, reply_id: str, now: datetime) -> str:
    root = element(REPLY_INTERACTION, ITSVersion="XML_1.0")
    message_header(
        root,
        message_id=reply_id,
        created_at=now,
        interaction=REPLY_INTERACTION,
        sender=reply.institution_code,
        receiver=PLATFORM_DEVICE,
    )
    acknowledgement = sub(root, "acknowledgement", typeCode=reply.acknowledgement)
    sub(sub(acknowledgement, "targetMessage"), "id", extension=query_id)
    if reply.detail:
        sub(sub(acknowledgement, "acknowledgementDetail"), "text").text = reply.detail
    control = sub(root, "controlActProcess", classCode="CACT", moodCode="EVN")
    ack = sub(control, "queryAck")
    sub(ack, "queryId", extension=query_id)
    sub(ack, "queryResponseCode", code="OK" if reply.messages else "NF")
    sub(ack, "resultTotalQuantity", value=str(reply.total))
    sub(ack, "resultCurrentQuantity", value=str(len(reply.messages)))
    sub(ack, "resultRemainingQuantity", value=str(reply.remaining))
    for message in reply.messages:
        published = sub(sub(control, "subject", typeCode="SUBJ"), "publishedMessage")
        sub(published, "sequenceNumber", value=str(message.sequence))
        sub(published, "publishedTime", value=format_ts(message.published_at, milliseconds=True))
        sub(published, "text").text = message.text
    return serialize(root)


def read_reply(text: str) -> QueryReply:
    """The reply to a ``MessageQuery``; ``ValueError`` when it is not a readable one."""
    root = _parsed(text)
    if root.tag != REPLY_INTERACTION:
        raise ValueError(f"应答不是 {REPLY_INTERACTION}：{root.tag[:60]}")
    acknowledgement = root.find("acknowledgement")
    control = root.find("controlActProcess")
    messages: list[PublishedMessage] = []
    for published in control.findall("subject/publishedMessage") if control is not None else []:
        sequence = attribute(published.find("sequenceNumber"), "value")
        stamp = attribute(published.find("publishedTime"), "value")
        if not sequence.isdigit() or not stamp:
            raise ValueError("publishedMessage 缺少 sequenceNumber 或 publishedTime")
        messages.append(
            PublishedMessage(int(sequence), parse_ts(stamp), published.findtext("text") or "")
        )

    def quantity(name: str) -> int:
        value = attribute(root.find(f"controlActProcess/queryAck/{name}"), "value")
        return int(value) if value.isdigit() else 0

    return QueryReply(
        institution_code=attribute(root.find("sender/device/id/item"), "extension"),
        acknowledgement=attribute(acknowledgement, "typeCode") or "AE",
        detail=text_of(root.find("acknowledgement/acknowledgementDetail/text")),
        messages=messages,
        total=quantity("resultTotalQuantity"),
        remaining=quantity("resultRemainingQuantity"),
    )
