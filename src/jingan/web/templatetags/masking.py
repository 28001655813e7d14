"""Template filters that show personal data masked: ``{% load masking %}{{ v|mask_id }}``."""

from __future__ import annotations

from django import template

from jingan.lib import masking

register = template.Library()

register.filter("mask_id", masking.mask_id_number)
register.filter("mask_mobile", masking.mask_mobile)
register.filter("mask_name", masking.mask_name)
register.filter("mask_address", masking.mask_address)
register.filter("mask_text", masking.mask_text)
