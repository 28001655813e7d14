"""The record-archive port: inpatient record systems of the institutions, and their simulator."""
