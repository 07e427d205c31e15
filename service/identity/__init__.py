"""Who the client is, decided once for every feature: address and network, reader, tokens,
keyed hashes, the Origin rule, the principal and the audit writer (docs/security/identity.md).

Below every feature: it imports core and storage only (tests/test_layers.py)."""
