"""Prescriptions: the medical-insurance e-prescription centre (erx); insurance and payments later."""
