"""Errors users see as one clear line (the CLI prints them without a traceback)."""


class GalaxyLibError(Exception):
    """Base class: a problem with the user's input, described in one line."""


class DataError(GalaxyLibError, ValueError):
    """A data set is missing, malformed or inconsistent; the message names the file, row or column."""


class ConfigError(GalaxyLibError, ValueError):
    """A configuration file or override is invalid; the message names the key."""
