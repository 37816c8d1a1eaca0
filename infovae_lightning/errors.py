"""The errors a user can act on. Entry points (`train.py`, `infovae`) report them as one `error:` line.

Every such error derives from `InfoVAEError`; its message is one line that names the culprit (the config key,
the file, the loss term) and, where there is one, the fix. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class InfoVAEError(Exception):
    """A problem with the input or the run, not with the code: reported as one line, without a traceback."""


class ConfigError(InfoVAEError, ValueError):
    """A configuration value that cannot work (an unknown name, a number out of range, a bad combination)."""


class CheckpointError(InfoVAEError, ValueError):
    """A checkpoint that is missing, unreadable, or does not fit the model it is meant for."""


class NonFiniteLossError(InfoVAEError, FloatingPointError):
    """A loss term became NaN or infinite: training stops before the bad step is taken or checkpointed."""
