"""The internet operations supervision platform (互联网运营监管平台): lake, indicators, alerts, dashboards."""
