"""Retention: the policy, expiry of what is past its period, anonymisation."""
