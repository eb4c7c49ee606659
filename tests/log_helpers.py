"""What :mod:`webapp.process_logging` writes, captured for the logging tests."""
import contextlib
import io
import json
import logging

from webapp import process_logging as logs


class CapturedLogs:
    def __init__(self, stream):
        self.stream = stream

    def text(self):
        return self.stream.getvalue()

    def records(self):
        """Every line parsed as JSON (fails on a line that is not one object)."""
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]

    def by_logger(self, name):
        return [record for record in self.records() if record["logger"] == name]


@contextlib.contextmanager
def captured_logs(settings, role):
    """``logs.configure(settings, role)`` writing to memory; the logging setup of the test
    process (root level, handlers, the quiet loggers' levels) is restored afterwards."""
    root = logging.getLogger()
    saved_level = root.level
    saved_quiet = {name: logging.getLogger(name).level for name in logs.QUIET_LOGGERS}
    stream = io.StringIO()
    handler = logs.configure(settings, role, stream=stream)
    try:
        yield CapturedLogs(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        for name, level in saved_quiet.items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)
