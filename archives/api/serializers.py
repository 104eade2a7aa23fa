"""API shapes of archives, backup requests, restores and schedules."""

from __future__ import annotations

from rest_framework import serializers

from archives.models import Archive, BackupSchedule
from baas.validators import validate_name


class ArchiveSerializer(serializers.ModelSerializer):
    network = serializers.UUIDField(source="network_id", read_only=True, allow_null=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Archive
        fields = ["id", "kind", "status", "network", "network_name", "chain_id",
                  "ledger_version", "validators", "height", "app_hash", "size", "sha256",
                  "scheduled", "error_code", "created_at", "finished_at", "download_url"]
        read_only_fields = fields

    def get_download_url(self, archive: Archive) -> str | None:
        if archive.status != "ready":
            return None
        return f"/api/v1/archives/{archive.pk}/download/"


class BackupRequestSerializer(serializers.Serializer):
    passphrase = serializers.CharField(trim_whitespace=False, write_only=True)


class RestoreRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=63, validators=[validate_name])
    passphrase = serializers.CharField(trim_whitespace=False, write_only=True)
    backup = serializers.UUIDField(required=False)
    archive = serializers.FileField(required=False, write_only=True)


class ScheduleSerializer(serializers.ModelSerializer):
    passphrase = serializers.CharField(trim_whitespace=False, write_only=True, required=False)

    class Meta:
        model = BackupSchedule
        fields = ["enabled", "interval_hours", "keep", "passphrase", "next_run_at",
                  "last_run_at"]
        read_only_fields = ["next_run_at", "last_run_at"]
