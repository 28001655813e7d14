"""The outpatient visit assistant and the event centre that drives it (VA-1..14, HI-1..2)."""
