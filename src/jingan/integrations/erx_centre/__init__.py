"""The medical-insurance e-prescription centre (医保电子处方中心): envelope, port, adapter, simulator."""
