"""Command-line values checked against the config schema before Hydra starts a run.

Hydra reports a wrong type (`latent_dim=abc`) or an unknown key (`model.lamm=3`) with a multi-line message
of its own; the library's contract is one `error:` line naming the key, exit status 1, and no run
directory. For a single run (no `-m`, no sweep syntax, no Hydra flag) the overrides are composed here first,
with Hydra's public compose API on the same configs, and a refusal becomes that one line. Anything this
check does not cover goes on to Hydra unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def override_error(argv: Sequence[str], config_dir: Path, config_name: str = "train") -> str | None:
    """The one-line error for `argv` (the command line's arguments), or None when they compose or when the
    check does not apply (flags such as -m, --help, --config-dir; sweep values; unparsable overrides,
    which Hydra reports itself)."""
    if not argv or any(arg.startswith("-") for arg in argv):
        return None
    try:
        parsed = OverridesParser.create().parse_overrides(list(argv))
    except HydraException:
        return None
    if any(o.is_sweep_override() for o in parsed):
        return None
    overrides = [arg for arg, o in zip(argv, parsed, strict=True) if not o.key_or_group.startswith("hydra")]
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            compose(config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as error:
        cause = error.__cause__ if isinstance(error.__cause__, OmegaConfBaseException) else error
        key = getattr(cause, "full_key", None)
        message = _first_line(str(cause))
        return f"{key}: {message}" if key and not message.startswith(f"{key}:") else message
    return None
