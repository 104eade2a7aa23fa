"""The steps of each deploy operation, written once.

A workflow takes a claimed ``baas.runner.Run`` and ids, reloads its rows, and either
finishes the work or raises: ``StepFailed`` (with a stable code), ``Superseded`` (the user
asked for something else meanwhile) or a ``DriverError``. What a failure does to the
network is the workflow's failure policy (``common.network_policy``), applied by the
runner; tasks (``deploy.tasks``) only connect Celery to these functions.
"""
