"""The platform's own index of committed transactions, per network, for search by signer
and chaincode (``explorer.indexer`` fills it from committed blocks; ``explorer.selectors``
reads it). CometBFT's ``tx_search`` reads every matching index entry before it pages, so a
signer with 100,000 transactions cost a second and more; a B-tree on (network, signer,
height) answers the newest 50 in milliseconds.

Rows are derived data: a network's rows can be dropped and rebuilt from its chain at any
time (the indexer does so when the chain went back, a restore).
"""

from __future__ import annotations

from django.db import models

from baas.querysets import TenantScopedQuerySet


class IndexedTxQuerySet(TenantScopedQuerySet):
    tenant_field = "network__tenant"


class IndexedTx(models.Model):
    network = models.ForeignKey("deploy.Network", on_delete=models.CASCADE, related_name="+")
    height = models.BigIntegerField()
    index = models.PositiveIntegerField()  # position in the block
    hash = models.CharField(max_length=64)  # lower-case hex SHA-256 of the tx bytes
    # Decoded without checking the signature (the chain checked it); empty for a tx the
    # ledger's format does not decode.
    signer = models.CharField(max_length=64, blank=True)  # public key, lower-case hex
    chaincode = models.CharField(max_length=65, blank=True)  # "_" and 64 (ledger.tx)
    function = models.CharField(max_length=64, blank=True)
    code = models.PositiveIntegerField(default=0)  # 0 = ok (block_results)
    gas_used = models.BigIntegerField(default=0)
    block_time = models.DateTimeField(null=True)

    objects = IndexedTxQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["network", "height", "index"],
                                               name="explorer_tx_position")]
        indexes = [
            models.Index(fields=["network", "signer", "-height", "-index"],
                         name="explorer_tx_signer"),
            models.Index(fields=["network", "chaincode", "-height", "-index"],
                         name="explorer_tx_chaincode"),
            models.Index(fields=["network", "hash"], name="explorer_tx_hash"),
        ]
        ordering = ["-height", "-index"]

    def __str__(self) -> str:
        return f"{self.network_id}@{self.height}.{self.index} {self.hash[:12]}"


class IndexCursorQuerySet(TenantScopedQuerySet):
    tenant_field = "network__tenant"


class IndexCursor(models.Model):
    """How far a network's chain is indexed: every block up to ``height`` is in
    ``IndexedTx``. ``block_hash`` is that block's hash, so a chain that was replaced by
    another one (same height reached again, different blocks) is noticed too."""

    network = models.OneToOneField("deploy.Network", on_delete=models.CASCADE,
                                   related_name="+", primary_key=True)
    height = models.BigIntegerField(default=0)
    block_hash = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = IndexCursorQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.network_id} indexed to {self.height}"
