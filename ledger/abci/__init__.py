"""ABCI 2.0 socket server for CometBFT v0.38 in front of ``ledger.app.LedgerApp``."""
