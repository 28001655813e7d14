"""What the console tests share: reading a rendered form back into POST data, events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

from django.apps import apps

from jingan.integrations.his.port import HisEvent, PatientRef

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
PATIENT_NAME = "王秀兰"
PATIENT_ID = "310106195203041236"


def institution(code: str) -> Any:
    return apps.get_model("institutions", "Institution").objects.unscoped().get(code=code)


def audit_entries() -> Any:
    return apps.get_model("audit", "AuditEntry").objects.all()


def institutions(count: int) -> list[Any]:
    model = apps.get_model("institutions", "Institution")
    return list(model.objects.unscoped().filter(is_active=True).order_by("code")[:count])


def event(
    code: str,
    visit_key: str,
    number: int,
    node: str,
    status: str,
    minutes: float = 0,
    **payload: Any,
) -> HisEvent:
    return HisEvent(
        source="console-test",
        source_event_id=f"{visit_key}-{number}",
        institution_code=code,
        visit_key=visit_key,
        node=node,
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        patient=PatientRef(name=PATIENT_NAME, id_number=PATIENT_ID),
        payload={"department_name": "内科", **payload},
    )


class _FormReader(HTMLParser):
    """The successful controls of one ``<form>`` (by id) as a browser would submit them."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, str] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.inside = attributes.get("id") == self.form_id
            return
        if not self.inside:
            return
        name = attributes.get("name")
        if tag == "input" and name:
            kind = attributes.get("type", "text")
            if kind == "checkbox":
                if "checked" in attributes:
                    self.data[name] = attributes.get("value") or "on"
            elif kind not in ("submit", "button"):
                self.data[name] = attributes.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        if tag == "textarea":
            self._textarea = None


def form_data(html: str, form_id: str) -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.data
