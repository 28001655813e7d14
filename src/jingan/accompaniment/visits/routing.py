"""Websocket routes of the visit assistant (collected by config/asgi.py)."""

from __future__ import annotations

from django.urls import path

from jingan.accompaniment.visits.consumers import VisitConsumer

WEBSOCKETS = [
    path("ws/visits/<uuid:reference>/", VisitConsumer.as_asgi(), name="ws-visit"),
]
