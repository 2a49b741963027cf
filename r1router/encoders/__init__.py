"""Encoders that turn text (and images) into vectors for the KB indexes."""
