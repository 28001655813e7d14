"""Dialect C: the HIS publishes HL7 v3 messages on its 互联互通 SOAP web service; the
platform polls them (``HIPMessageServer(action, message)``)."""
