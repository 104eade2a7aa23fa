"""Date formats the portal uses instead of Django's defaults for some languages.

Enabled by ``FORMAT_MODULE_PATH = ["baas.formats"]`` in ``baas/settings.py``; a language
without a module here keeps Django's own formats.
"""
