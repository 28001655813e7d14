"""Online accompaniment: the outpatient visit assistant (``visits``); family and companions later."""
