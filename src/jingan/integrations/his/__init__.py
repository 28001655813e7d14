"""HIS integration for the outpatient journey: four dialects (A HL7 v2/MLLP, B REST/JSON push,
C SOAP 互联互通 web service, D database views), each an adapter onto ``port.HisEvent`` with a
simulator that speaks the same wire protocol."""
