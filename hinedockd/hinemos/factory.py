"""Choose and build the repository backend named by `[hinemos] api`."""

from __future__ import annotations

import os
from pathlib import Path

from hinedockd.config import ConfigError, HinemosConfig
from hinedockd.hinemos.backend import Backend
from hinedockd.hinemos.dryrun import MemoryBackend

CREDENTIAL = "hinemos.password"


def read_password(cfg: HinemosConfig) -> str:
    """From `password_file`, else from the systemd credential `hinemos.password`
    (LoadCredential=). Never from the config text; never logged."""
    candidates = [Path(cfg.password_file)] if cfg.password_file else []
    if os.environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append(Path(os.environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL)
    for path in candidates:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise ConfigError(f"hinemos.password_file: cannot read {path}: {e.strerror}") from None
        if text:
            return text
    raise ConfigError("hinemos.password_file: no password found (set password_file, or "
                      f"LoadCredential={CREDENTIAL}:… in the unit)")


def make_backend(cfg: HinemosConfig) -> Backend:
    if cfg.api == "dry-run":
        return MemoryBackend()
    if cfg.api == "rest":
        from hinedockd.hinemos.rest import RestBackend
        return RestBackend(cfg, read_password(cfg))
    from hinedockd.hinemos.soap import SoapBackend
    return SoapBackend(cfg, read_password(cfg))
