"""Adds the current request id to every log record, so a 500's id finds its trace."""

import logging

from baas.context import current_request_id


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True
