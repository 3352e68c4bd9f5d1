"""Errors a user can act on. Each carries one readable sentence; callers show str(err) and nothing more."""


class WorkbenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ConfigError(WorkbenchError):
    """A run configuration that cannot work (bad value, model and dataset that do not fit)."""


class DatasetUnavailable(WorkbenchError):
    """The dataset's files are not here and cannot be downloaded."""


class ModelLoadError(WorkbenchError):
    """A user's model file could not be loaded or built."""


class CheckpointError(WorkbenchError):
    """A checkpoint that is missing, corrupt or from another model."""


class UntrustedCode(WorkbenchError):
    """A run folder or checkpoint that names code to run (a model file) which this user has not named."""


class SweepError(WorkbenchError):
    """A sweep that cannot start or go on: a bad search space, a damaged journal, a launcher that is not there."""
