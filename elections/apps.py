from django.apps import AppConfig


class ElectionsConfig(AppConfig):
    """The pages of the voting template's deployments: the election commission's, the
    trustees' and the voters' pages, and the public results with their verification.

    The protocol (``elections.protocol``) and the verifier (``elections.verify``) are pure
    Python and know nothing of Django; the elections themselves live on chain (the
    ``voting`` bundle), so this app has no models.
    """

    name = "elections"
    verbose_name = "Elections"
