"""The user-error channel: every problem in the user's input raises a :class:`GalaxyLibError`.

The command line prints these as one line and exits with status 2; any other exception is a bug
in this package and keeps its full traceback (exit status 1), so CI and bug reports show where it
happened. Subclasses name the kind of input at fault, and each message names the file, row or key.
They also derive from ``ValueError`` so that code written against the library's earlier
``ValueError`` contract keeps working.
"""


class GalaxyLibError(Exception):
    """Base class: a problem with the user's input, described in one line."""


class ConfigError(GalaxyLibError, ValueError):
    """A configuration file, override or argument is invalid; the message names the key."""


class DataError(GalaxyLibError, ValueError):
    """A data set is missing, malformed or inconsistent; the message names the file, row or column."""


class RunError(GalaxyLibError, ValueError):
    """A run folder is missing, unfinished, corrupt or made with another configuration."""


class ReportError(GalaxyLibError):
    """A notebook failed or the report could not be built; the message names notebook and cell."""
