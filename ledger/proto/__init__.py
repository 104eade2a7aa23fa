"""CometBFT protocol types, generated at setup from CometBFT's own ``.proto`` files.

Run ``python -m ledger.proto.build`` (``make proto``) to produce ``ledger/proto/gen/``.
"""
