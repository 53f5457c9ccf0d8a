"""Probes: public code that graders run beside student code and that returns raw observations."""
