"""Our entry points' output without third-party noise: product tips and deprecation warnings that a user
can do nothing about (they come from inside Lightning and torch, not from the user's code)."""

from __future__ import annotations

import logging
import warnings

# Where Lightning's rank_zero_info messages are logged (its module loggers; both may be in use).
LIGHTNING_INFO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
TIP_PREFIX = "💡 Tip:"  # Lightning's advertisements of its cloud products
DEPRECATIONS = (
    # torch 2.10+ deprecates LeafSpec, which Lightning's own pytree helpers still build.
    r".*LeafSpec.*is deprecated",
)


class DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TIP_PREFIX)


def quiet_third_party() -> None:
    """Drops Lightning's product tips and the deprecation warnings listed above; anything else still shows."""
    for name in LIGHTNING_INFO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTips) for f in logger.filters):
            logger.addFilter(DropTips())
    for message in DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message)
