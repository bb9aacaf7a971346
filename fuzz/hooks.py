"""Schemathesis hooks for `python -m fuzz` (loaded through SCHEMATHESIS_HOOKS).

One check replaces the built-in `positive_data_acceptance`: the same rule (a schema-valid request
is answered 2XX or a domain refusal, never 422), except for a 422 `time_out_of_range`. Event times
must lie between 2019-12-01 and now; the window moves with the clock, and JSON Schema cannot
state a bound on a date-time, so a generated 2087 or 1603 is valid to the schema and rightly
refused by the API (the OpenAPI description says so). Every other 422 still fails the run.
"""

import json

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# The window's codes: the API's time rule, and the batches' rows (offline records up to 7 days
# old, none from the future), which a batch answers as a 422 listing its rows.
TIME_WINDOW = {
    "time_out_of_range",
    "at_too_old",
    "at_in_future",
    "measured_too_old",
    "measured_in_future",
    "reported_in_future",
    "exposure_future",
}


def _outside_the_window(response) -> bool:
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    rows = body.get("rows") or []
    if rows:
        return all(isinstance(row, dict) and _row_refusal(row.get("code", "")) for row in rows)
    return body.get("code") in TIME_WINDOW


def _row_refusal(code: str) -> bool:
    # A batch answers all its refused rows in one 422: a row naming a person or pass the caller
    # cannot see is the batch's form of a 404, one outside the time window of the rule above.
    return code in TIME_WINDOW or code == "not_found" or code.endswith("_not_found")


@schemathesis.check
def positive_data_acceptance_outside_the_time_window(ctx, response, case):
    """Valid data is accepted (2XX or a domain refusal), unless it names a time outside the window
    (or is a batch whose refused rows are all outside it or name what the caller cannot see)."""
    if response.status_code == 422 and _outside_the_window(response):
        return None
    return positive_data_acceptance(ctx, response, case)
