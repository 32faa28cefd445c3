"""Test scenarios: the ordered steps of a mask test, their criteria and the legacy step rows."""
