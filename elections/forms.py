"""Portal forms of the election pages: field types and parsing only; the services check
the rest (``elections.services.check_election``).

Times are entered and shown in the reader's time zone: Korea's for Korean readers, UTC
otherwise (the portal has no per-person zone); the chain keeps block-time seconds.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import dateformat, formats
from django.utils.translation import gettext_lazy as _

from baas.validators import validate_name
from elections import services
from sectors.forms_schema import reader_language

ZONES = {"ko": ("Asia/Seoul", "KST"), "en": ("UTC", "UTC")}
INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]
BOUNDS = re.compile(r"\s*\[\s*(\d{1,2})\s*(?:[-–~]\s*(\d{1,2})\s*)?\]\s*$")
OPTION_MARK = re.compile(r"^[-*•]\s*")


def reader_zone() -> tuple[ZoneInfo, str]:
    name, label = ZONES[reader_language()]
    return ZoneInfo(name), label


def when(seconds: Any) -> dict[str, str] | None:
    """Block-time seconds as the page shows them: ``{"iso", "text", "zone"}`` in the
    reader's zone and date order (``2026년 12월 4일 15:42`` in Korean)."""
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        return None
    zone, label = reader_zone()
    try:
        moment = datetime.fromtimestamp(seconds, tz=zone)
    except (OverflowError, OSError, ValueError):
        return None
    return {"iso": moment.isoformat(), "zone": label,
            "text": dateformat.format(moment, formats.get_format("DATETIME_FORMAT"))}


def parse_questions(text: str) -> list[dict[str, Any]]:
    """Questions from text: blocks separated by a blank line; a block's first line is the
    question, ending with ``[n]`` (choose exactly n) or ``[min-max]`` (default ``[1]``),
    and each further line an option (a leading ``-`` or ``*`` is dropped)."""
    blocks: list[list[str]] = [[]]
    for raw in str(text or "").splitlines():
        line = raw.strip()
        if not line:
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(line)
    questions = []
    for n, block in enumerate([b for b in blocks if b], 1):
        title, lo, hi = block[0], 1, 1
        bounds = BOUNDS.search(title)
        if bounds:
            lo = int(bounds.group(1))
            hi = int(bounds.group(2)) if bounds.group(2) is not None else lo
            title = title[:bounds.start()].strip()
        options = [OPTION_MARK.sub("", line).strip() for line in block[1:]]
        questions.append({
            "id": f"q{n}", "title": title, "min_choices": lo, "max_choices": hi,
            "options": [{"id": f"o{j}", "title": o} for j, o in enumerate(options, 1)],
        })
    return questions


def _check_text(value: str, what: str) -> None:
    try:
        validate_name(value)
    except forms.ValidationError as err:
        raise forms.ValidationError(f"{what}: {err.messages[0]}") from None
    if len(value) > services.MAX_TITLE:
        raise forms.ValidationError(_("%(what)s is longer than %(max)s characters.")
                                    % {"what": what, "max": services.MAX_TITLE})


class ElectionForm(forms.Form):
    election_id = forms.RegexField(
        label=_("Election id"), regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$", max_length=40,
        help_text=_("Letters, digits, '.', '_' or '-'; it names the election on the chain "
                    "and in its links, e.g. council-2027."),
        error_messages={"invalid": _("Use 1 to 40 letters, digits, '.', '_' or '-'.")})
    title = forms.CharField(label=_("Title"), max_length=services.MAX_TITLE,
                            validators=[validate_name])
    questions = forms.CharField(
        label=_("Questions and options"), widget=forms.Textarea(attrs={"rows": 10}),
        max_length=20_000,
        help_text=_("One block per question, separated by an empty line: the question on its "
                    "first line, ending with [1] to choose exactly one or [0-2] to choose up "
                    "to two, then one option a line."))
    trustees = forms.MultipleChoiceField(
        label=_("Trustees"), widget=forms.CheckboxSelectMultiple,
        help_text=_("Organisations holding the trustee role; each keeps a share of the key "
                    "that decrypts the tally, and all of them must take part."))
    opens = forms.DateTimeField(label=_("Voting opens"), input_formats=INPUT_FORMATS,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                           format="%Y-%m-%dT%H:%M"))
    closes = forms.DateTimeField(label=_("Voting closes"), input_formats=INPUT_FORMATS,
                                 widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                            format="%Y-%m-%dT%H:%M"))

    def __init__(self, *args: Any, trustees: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["trustees"].choices = trustees
        zone, label = reader_zone()
        for name in ("opens", "closes"):
            self.fields[name].help_text = _("Time zone: %(zone)s") % {"zone": label}

    def _in_zone(self, name: str) -> datetime:
        value = self.cleaned_data[name]
        # Django read the wall time in the server's zone (UTC): it is the reader's.
        return value.replace(tzinfo=reader_zone()[0])

    def clean_opens(self) -> datetime:
        return self._in_zone("opens")

    def clean_closes(self) -> datetime:
        return self._in_zone("closes")

    def clean_questions(self) -> list[dict[str, Any]]:
        questions = parse_questions(self.cleaned_data["questions"])
        if not questions:
            raise forms.ValidationError(_("Write at least one question with its options."))
        for n, q in enumerate(questions, 1):
            _check_text(q["title"] or "", _("Question %(n)s") % {"n": n})
            if not q["title"]:
                raise forms.ValidationError(_("Question %(n)s has no text.") % {"n": n})
            for o in q["options"]:
                _check_text(o["title"], _("Question %(n)s") % {"n": n})
        return questions

    def spec(self) -> services.ElectionSpec:
        data = self.cleaned_data
        return services.ElectionSpec(
            id=data["election_id"], title=data["title"].strip(), questions=data["questions"],
            trustees=list(data["trustees"]), opens_at=int(data["opens"].timestamp()),
            closes_at=int(data["closes"].timestamp()))


class VotersForm(forms.Form):
    voters = forms.CharField(
        label=_("Voters"), widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        max_length=services.MAX_VOTERS_PER_REQUEST * 200,
        help_text=_("One voter a line: the public key the voter's page shows (64 hexadecimal "
                    "characters) or a did:baas DID. Sent in batches of 500; voters already "
                    "on the roll are skipped."))


class TrusteeKeyForm(forms.Form):
    """Filled in by the trustee page's script: the public key share and its proof."""
    public = forms.RegexField(regex=r"^(0[23][0-9a-f]{64})$", widget=forms.HiddenInput)
    proof = forms.CharField(widget=forms.HiddenInput, max_length=400)
    saved = forms.BooleanField(label=_("I saved the key file where my organisation keeps "
                                       "its secrets"))

    def clean_proof(self) -> list[str]:
        try:
            proof = json.loads(self.cleaned_data["proof"])
        except (ValueError, RecursionError):
            raise forms.ValidationError(_("The proof is not readable.")) from None
        if not (isinstance(proof, list) and len(proof) == 2
                and all(isinstance(p, str) for p in proof)):
            raise forms.ValidationError(_("The proof is not readable."))
        return proof


class DecryptionForm(forms.Form):
    """Filled in by the trustee page's script: the partial decryption of every tally."""
    shares = forms.CharField(widget=forms.HiddenInput, max_length=200_000)

    def clean_shares(self) -> Any:
        try:
            # deeply nested arrays make the parser recurse past the limit: unreadable too
            shares = json.loads(self.cleaned_data["shares"])
        except (ValueError, RecursionError):
            raise forms.ValidationError(_("The partial decryption is not readable.")) from None
        if not isinstance(shares, list):
            raise forms.ValidationError(_("The partial decryption is not readable."))
        return shares
