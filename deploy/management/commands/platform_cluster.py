"""``manage.py platform_cluster``: the platform's registered clusters, which every tenant
may choose for its ``kubernetes`` networks (tenants register their own through the API or
the portal).

    manage.py platform_cluster list
    manage.py platform_cluster register NAME --kubeconfig FILE [--context CTX]
    manage.py platform_cluster check ID
    manage.py platform_cluster delete ID

``register`` applies the same refusals and check as a tenant's registration (inline
credentials only, verified TLS, every right the driver needs); ``--kubeconfig -`` reads
standard input. Nothing of the kubeconfig is printed. Run by the operator: the actor is
the platform itself.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from baas.errors import AppError
from deploy.drivers.kubeconfig import MAX_KUBECONFIG_BYTES
from deploy.models import Cluster
from deploy.services import clusters


class Command(BaseCommand):
    help = "List, register, check or delete the platform's Kubernetes clusters."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list")
        register = sub.add_parser("register")
        register.add_argument("name")
        register.add_argument("--kubeconfig", required=True,
                              help="a kubeconfig file with inline credentials, or - for stdin")
        register.add_argument("--context", default=None)
        for action in ("check", "delete"):
            sub.add_parser(action).add_argument("id")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            if action == "list":
                for c in Cluster.objects.filter(tenant__isnull=True).order_by("name"):
                    self.stdout.write(f"{c.pk}  {c.name}  {c.server}  {c.status}"
                                      f"{'  ' + c.last_error_code if c.last_error_code else ''}")
            elif action == "register":
                path = options["kubeconfig"]
                text = sys.stdin.read() if path == "-" else _read(path)
                cluster = clusters.cluster_register(
                    tenant=None, actor=None, name=options["name"], kubeconfig=text,
                    context=options["context"])
                self.stdout.write(f"registered {cluster.pk} {cluster.name} ({cluster.server})")
            else:
                cluster = _platform_cluster(options["id"])
                if action == "check":
                    cluster = clusters.cluster_check(tenant=None, actor=None, cluster=cluster)
                    error = clusters.cluster_error(cluster=cluster, staff=True)
                    self.stdout.write(f"{cluster.name}: {cluster.status} "
                                      f"{error['message'] if error else ''}".rstrip())
                else:
                    clusters.cluster_delete(tenant=None, actor=None, cluster=cluster)
                    self.stdout.write(f"deleted {options['id']}")
        except AppError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None


def _platform_cluster(value: str) -> Cluster:
    try:
        uuid.UUID(value)
    except ValueError:
        raise CommandError(f"not a cluster id: {value}") from None
    cluster = Cluster.objects.filter(tenant__isnull=True, pk=value).first()
    if cluster is None:
        raise CommandError(f"no platform cluster {value}")
    return cluster


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            # One byte past the limit, so the service still says "too large".
            return handle.read(MAX_KUBECONFIG_BYTES + 1)
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None
