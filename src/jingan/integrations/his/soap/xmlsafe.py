"""XML helpers of dialect C: safe parsing, namespace-free lookups, HL7 v3 TS timestamps.

Every XML text from a HIS is parsed with ``defusedxml`` and a DOCTYPE is refused
outright: no entity expansion, no external references (XXE). Vendors disagree on
namespaces (``urn:hl7-org:v3``, their own, none), so parsed trees are read by local
names.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

CHINA = timezone(timedelta(hours=8), "CST")
V3 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_TS = re.compile(r"(\d{14})(?:\.(\d{1,6}))?([+-]\d{4})?")


class UnsafeXml(ValueError):
    """The text declares a DOCTYPE or entities: refused before anything is expanded."""


def parse_xml(text: str | bytes) -> ET.Element:
    """The element tree of ``text`` with namespaces stripped from tags.

    Raises ``UnsafeXml`` for DOCTYPE/entities and ``ET.ParseError`` when not well formed.
    """
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except DefusedXmlException as error:
        raise UnsafeXml(type(error).__name__) from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def attribute(element: ET.Element | None, name: str) -> str:
    """An attribute by local name (``type`` finds ``xsi:type``), stripped; "" if absent."""
    if element is None:
        return ""
    for key, value in element.attrib.items():
        if key == name or key.endswith("}" + name):
            return value.strip()
    return ""


def text_of(element: ET.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


# Elements are built with plain tags and the namespaces declared on the root by hand:
# ElementTree's ``default_namespace`` refuses unqualified attributes, which v3 is full of.


def element(tag: str, **attributes: str) -> ET.Element:
    """A v3 root element (serialised with ``xmlns`` and ``xmlns:xsi`` declared)."""
    return ET.Element(tag, {"xmlns": V3, "xmlns:xsi": XSI, **attributes})


def sub(parent: ET.Element, tag: str, **attributes: str) -> ET.Element:
    """A child element; ``type_`` becomes ``xsi:type``."""
    attrib = {("xsi:type" if key == "type_" else key): value for key, value in attributes.items()}
    return ET.SubElement(parent, tag, attrib)


def serialize(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def fraction(microsecond: int, *, milliseconds: bool = False) -> str:
    """``.SSS`` or finer, down to the microsecond, so times survive the trip exactly."""
    if not microsecond and not milliseconds:
        return ""
    digits = f"{microsecond:06d}".rstrip("0")
    return "." + digits.ljust(3, "0")


def format_ts(moment: datetime, *, milliseconds: bool = False) -> str:
    """An HL7 v3 TS in Beijing time: ``yyyyMMddHHmmss`` (a fraction when it matters)."""
    local = moment.astimezone(CHINA)
    return local.strftime("%Y%m%d%H%M%S") + fraction(local.microsecond, milliseconds=milliseconds)


def parse_ts(value: str) -> datetime:
    """An HL7 v3 TS (``yyyyMMddHHmmss[.f][+zzzz]``); no offset means Beijing time."""
    match = _TS.fullmatch(value.strip())
    if match is None:
        raise ValueError(value)
    digits, digits_of_fraction, offset = match.groups()
    zone = CHINA
    if offset:
        sign = 1 if offset[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
    moment = datetime.strptime(digits, "%Y%m%d%H%M%S").replace(tzinfo=zone)
    if digits_of_fraction:
        moment = moment.replace(microsecond=int(digits_of_fraction.ljust(6, "0")))
    return moment
