"""Errors caused by user input. The CLI prints these as one line, without a traceback."""

__all__ = [
    "PhysoptError",
    "ConfigurationError",
    "ProblemDefinitionError",
    "TrainingDiverged",
    "NotImplementedYet",
    "Interrupted",
]


class PhysoptError(Exception):
    """Base of all errors that name a user's mistake and its fix."""


class ConfigurationError(PhysoptError, ValueError):
    """An unknown name or an invalid option value."""


class ProblemDefinitionError(PhysoptError, ValueError):
    """A problem that cannot be loaded or whose pieces do not fit together."""


class TrainingDiverged(PhysoptError, FloatingPointError):
    """The loss became NaN or infinite."""


class NotImplementedYet(ConfigurationError, NotImplementedError):
    """A named feature (e.g. a planned derivative mode) that does not exist yet."""


class Interrupted(PhysoptError):
    """The user stopped a run (Ctrl-C); the message says what was kept."""
