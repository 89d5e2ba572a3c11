"""Exceptions with messages that name the offending file or value.

Every error a user can cause derives from :class:`GMIQAError`; the command line turns it
into one line on stderr and a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class GMIQAError(Exception):
    """Base class for errors caused by input (files, names, settings), not by bugs."""


class ImageReadError(GMIQAError):
    """An image file is missing, truncated, or not an image."""


class DatasetError(GMIQAError):
    """A dataset root or score file is missing or inconsistent."""


class CheckpointError(GMIQAError):
    """A checkpoint is missing, corrupt, or does not fit the model."""


class ConfigError(GMIQAError):
    """An unknown profile, distortion, device or setting."""


class NotebookExecutionError(GMIQAError):
    """A notebook raised while papermill executed it (names the notebook and cell)."""
