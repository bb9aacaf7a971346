"""Domain errors: a stable code, a message in both UI languages, and the field at fault.

Services raise these; the API and the views turn them into 4xx answers. A message is a
lazy translation so it renders in the reader's language; `as_dict` gives both.
"""

from django.utils import translation


class DomainError(Exception):
    """A refusal the user can act on (bad input, illegal move)."""

    status = 400

    def __init__(self, code: str, message, *, field: str | None = None, params: dict | None = None):
        super().__init__(code)
        self.code = code
        self.message = message
        self.field = field
        self.params = params or {}

    def render(self, language: str | None = None) -> str:
        with translation.override(language or translation.get_language()):
            text = str(self.message)
        return text % self.params if self.params else text

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.render(),
            "messages": {"zh-hans": self.render("zh-hans"), "en": self.render("en")},
            "field": self.field,
        }

    def __str__(self) -> str:
        return f"{self.code}: {self.render('en')}"


class NotFound(DomainError):
    """The object does not exist or is outside the user's grid subtree (never say which)."""

    status = 404


class Forbidden(DomainError):
    """The object is visible but the user's role does not allow this action."""

    status = 403


class Conflict(DomainError):
    """The request clashes with existing data (duplicate ID number, concurrent change)."""

    status = 409


class Gone(DomainError):
    """The thing was there and is no more for good (a job's download past its time): ask anew."""

    status = 410


class Invalid(DomainError):
    """The input is malformed or out of range (a 422 naming the field): fix it and resend."""

    status = 422


class Throttled(DomainError):
    """Too many attempts of one kind in a short time (e.g. pass numbers typed at a gate that match
    nothing): wait, then try again."""

    status = 429


class RowErrors(DomainError):
    """Many rows were refused at once (imports, batches); nothing was written."""

    status = 422

    def __init__(self, code: str, message, *, rows: list[dict], params: dict | None = None):
        super().__init__(code, message, params=params)
        self.rows = rows

    def as_dict(self) -> dict:
        data = super().as_dict()
        data["rows"] = self.rows
        return data
