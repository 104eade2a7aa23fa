"""One row per network per sampling pass: what its nodes said at that moment.

Rates (blocks per minute, transactions per second, time between blocks) are differences of
two consecutive samples, worked out when read (``monitor.selectors``), so a missed pass
widens one interval instead of producing a wrong figure.
"""

from __future__ import annotations

from django.db import models

from baas.querysets import TenantScopedQuerySet


class NetworkSampleQuerySet(TenantScopedQuerySet):
    tenant_field = "network__tenant"


class NetworkSample(models.Model):
    network = models.ForeignKey("deploy.Network", on_delete=models.CASCADE,
                                related_name="+")
    taken_at = models.DateTimeField()
    # The chain as the answering node saw it: latest height and that block's time.
    height = models.BigIntegerField()
    block_time = models.DateTimeField(null=True)
    # Transactions in the blocks since the previous sample (heights previous+1..height);
    # null for the first sample, after a gap too long to count, or when the chain went
    # back (a restore): no figure rather than a wrong one.
    txs = models.BigIntegerField(null=True)
    validators_up = models.PositiveSmallIntegerField()
    validators = models.PositiveSmallIntegerField()
    # Disk of the network's nodes as its driver tells it; null where it cannot.
    disk_bytes = models.BigIntegerField(null=True)
    # What ``disk_bytes`` is: "used" (measured bytes on disk: local homes, Docker volumes)
    # or "requested" (Kubernetes claims' requested capacity, not usage); "" with no figure.
    disk_kind = models.CharField(max_length=10, blank=True, default="")

    objects = NetworkSampleQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["network", "taken_at"], name="monitor_sample_time"),
                   # the retention delete of every network's old rows
                   models.Index(fields=["taken_at"], name="monitor_sample_age")]
        ordering = ["taken_at"]

    def __str__(self) -> str:
        return f"{self.network_id}@{self.taken_at:%Y-%m-%d %H:%M:%S} h={self.height}"
