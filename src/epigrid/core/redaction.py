"""Personal values out of log lines (docs/architecture.md "Deploying", logs).

Request lines reach the logs whole: the development server's (`django.server`), Django's errors
(`django.request`) and gunicorn's access and error logs (`epigrid.config.gunicorn`). A URL may
carry an ID number or a phone (`?q=…` from a search box, a link pasted by hand), and a resident's
link carries its token in the path. `redact` takes all of these out of a line; `RedactingFilter`
applies it to every record of a logger or handler it is attached to.

Imports nothing from Django, so gunicorn's master process can use it before Django is set up.
"""

import logging
import re

REDACTED = "[redacted]"

# Query parameters whose value is personal or secret whatever it looks like (a name typed into
# the search box is as personal as an ID number).
SENSITIVE_PARAMS = (
    "q",
    "query",
    "search",
    "name",
    "phone",
    "mobile",
    "tel",
    "id_number",
    "idno",
    "id_card",
    "birth_date",
    "birthday",
    "address",
    "token",
    "access_token",
    "password",
)
# name=value after ? & ; or a space, also URL-encoded inside another parameter (?next=/x%3Fq%3D…).
_PARAM = re.compile(
    r"(?P<name>(?:^|(?<=[?&;\s\"'])|(?<=%3[Ff])|(?<=%26))(?:"
    + "|".join(SENSITIVE_PARAMS)
    + r")(?:=|%3[Dd]))(?:(?!%26)[^&;\s\"'#])*",
    re.IGNORECASE,
)
# A separator people type inside the number (a space, a dash, an encoded space or plus).
_SEP = r"(?:[ +\-]|%20|%2[Bb])?"
# Not part of a longer run of digits; an encoded space or plus before it does not count as a digit.
_START = r"(?:(?<![0-9])|(?<=%20)|(?<=%2[Bb]))"
_END = r"(?![0-9])"
# 居民身份证号码: 17 digits and a check character (0-9 or X), possibly grouped 6-8-4.
_ID_NUMBER = re.compile(_START + r"[0-9]{6}" + _SEP + r"[0-9]{8}" + _SEP + r"[0-9]{3}[0-9Xx]" + _END)
# Mainland mobile numbers: 11 digits starting with 1, possibly +86 and grouped 3-4-4.
_PHONE = re.compile(
    _START + r"(?:(?:\+|%2[Bb])?86" + _SEP + r")?1[0-9]{2}" + _SEP + r"[0-9]{4}" + _SEP + r"[0-9]{4}" + _END
)
# A resident's personal link (/r/<token>/) and a volunteer's (/mobilization/v/<token>/): the token is
# the credential.
_RESIDENT_LINK = re.compile(r"(/r/|/mobilization/v/)[^/?#\s\"']+")


def redact(text: str) -> str:
    """`text` with ID numbers, mobile phones, sensitive query values and resident-link tokens
    replaced by "[redacted]"."""
    if not text:
        return text
    text = _PARAM.sub(lambda m: m.group("name") + REDACTED, text)
    text = _RESIDENT_LINK.sub(r"\g<1>" + REDACTED, text)
    text = _ID_NUMBER.sub(REDACTED, text)
    return _PHONE.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and its formatted traceback) through `redact`; never drops a
    record. Attached to a logger it sees the records logged there; to a handler, every record the
    handler writes, propagated ones included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_epigrid_redacted", False):
            return True
        if isinstance(record.msg, dict):  # a structlog line: core.logs.redact_event redacts its values
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        record._epigrid_redacted = True
        return True
