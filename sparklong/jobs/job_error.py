"""JobError: the one exception type a job reports as one line on stderr."""


class JobError(Exception):
    """A problem a job reports as one line on stderr, exiting non-zero."""
