"""This bundle's folder and its samples, run as the review runs them
(``sectors.harness.Samples``)."""

from __future__ import annotations

from pathlib import Path

from sectors.harness import Samples, contract_events

BUNDLE = Path(__file__).resolve().parent.parent
SAMPLES = Samples(BUNDLE)
MANIFEST = SAMPLES.manifest
events = contract_events
