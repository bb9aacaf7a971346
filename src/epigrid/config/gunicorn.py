"""gunicorn's settings for epigrid: `gunicorn -c python:epigrid.config.gunicorn epigrid.config.wsgi`
(the repository's gunicorn.conf.py loads this module, so a plain `gunicorn epigrid.config.wsgi` run
from the checkout gets it too).

The access log, when switched on (`--access-logfile -`), has the path without the query string
and no referrer (both may carry an ID number or a phone, ?q=…), and every line of the access and
error logs goes through `core.redaction.redact` all the same (a resident link's token, a number
in a path or an error message). Whether to log requests at all stays the operator's choice.
"""

from gunicorn.glogging import Logger

from epigrid.core.redaction import RedactingFilter


class RedactingLogger(Logger):
    """gunicorn's logger with `RedactingFilter` on its error and access loggers."""

    def setup(self, cfg):
        super().setup(cfg)  # may run dictConfig (logconfig_dict): filters are added after it
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())


logger_class = "epigrid.config.gunicorn.RedactingLogger"
# %(U)s is the path alone; %(r)s, %(q)s and %(f)s (request line, query, referrer) are left out.
# The request id is the one the audit log and the access log of reads keep for the request.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
