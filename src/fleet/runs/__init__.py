"""Test execution: the run engine, criteria, the simulated bench, reports (PDF/CSV)."""
