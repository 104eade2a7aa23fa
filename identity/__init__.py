"""Decentralised identity: DIDs now, verifiable credentials next (issue 13)."""
