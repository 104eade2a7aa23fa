from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import tenants.api.schema  # noqa: F401 - registers the OpenAPI auth scheme
        from baas.quotas import register_usage
        from tenants.selectors import active_token_count, member_count

        register_usage("max_members", member_count)
        register_usage("max_tokens", active_token_count)
