"""Chaos tests: real worker processes and real servers, killed and restarted on purpose."""
