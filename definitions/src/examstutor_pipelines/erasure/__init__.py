"""Erasure requests: one run per pending request, started by a sensor."""
