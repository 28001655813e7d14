"""E-prescriptions sent to the medical-insurance e-prescription centre (医保电子处方中心)."""
