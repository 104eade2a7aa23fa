"""States of an election (kept by the ``voting`` chaincode, not in the database), their
titles in the reader's language, and the named groups the pages use."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

SETUP = "setup"
OPEN = "open"
CLOSED = "closed"
PUBLISHED = "published"

STATE_TITLES = {
    SETUP: _("Being set up"),
    OPEN: _("Voting open"),
    CLOSED: _("Voting closed"),
    PUBLISHED: _("Result published"),
}
# The chain holds a joint key, ballots and a tally from opening on: the record can be
# verified from then.
VERIFIABLE = frozenset({OPEN, CLOSED, PUBLISHED})
DECRYPTING = frozenset({CLOSED, PUBLISHED})

# The roles of the bundle (sectors/bundles/voting/manifest.toml).
COMMISSION = "commission"
TRUSTEE = "trustee"
BUNDLE = "voting"


def state_title(state: str) -> str:
    return str(STATE_TITLES.get(state, state))
