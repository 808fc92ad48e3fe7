"""Encryption-key rotation: a new data key, every field rewrapped onto it, old keys retired."""
