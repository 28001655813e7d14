"""Dialect A: HL7 v2.5 over MLLP (codec, framing and transport, the HIS simulator)."""
