"""The API credentials from the environment (and ``.env``): checked, named when missing, never shown."""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lmm.config.config import PROGRAM_DIR, ConfigError

_HEX80 = re.compile(r"(0x)?[0-9a-fA-F]{80}")
CREDENTIAL_VARS = ("API_KEY_PRIVATE_KEY", "API_KEY_PUBLIC_KEY", "API_KEY_INDEX", "ACCOUNT_INDEX")


@dataclass(frozen=True)
class Credentials:
    private_key: str
    public_key: str
    api_key_index: int
    account_index: int

    def __repr__(self) -> str:  # never show the key, even in a traceback or a debugger
        return (f"Credentials(private_key=<redacted>, public_key={self.public_key[:10]}..., "
                f"api_key_index={self.api_key_index}, account_index={self.account_index})")

    __str__ = __repr__


DEFAULT_DOTENV_PATH = PROGRAM_DIR / ".env"


def load_dotenv_file(path: str | Path | None = None) -> str | None:
    """Load ``.env`` (next to the program by default) into os.environ without overriding set variables.

    Lines that are not ``NAME=value`` are skipped; the result is then one warning naming the file and the
    line numbers, never their content (a mistyped line may hold a key), else None. python-dotenv's own
    warnings, one a line, are kept off the console."""
    from dotenv import load_dotenv

    dotenv_path = Path(path) if path else DEFAULT_DOTENV_PATH
    if path is not None and not dotenv_path.is_file():
        raise ConfigError(f"config error: env file {dotenv_path} does not exist")
    bad_lines: list[str] = []

    def collect(record: logging.LogRecord) -> bool:
        if record.args and "could not parse" in str(record.msg):
            bad_lines.append(str(record.args[0]))  # type: ignore[index]
        return False  # never shown: the one summary below replaces them

    dotenv_log = logging.getLogger("dotenv.main")
    dotenv_log.addFilter(collect)
    try:
        load_dotenv(dotenv_path, override=False)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config error: cannot read {dotenv_path}: {exc.__class__.__name__}") from None
    finally:
        dotenv_log.removeFilter(collect)
    if not bad_lines:
        return None
    noun = "line" if len(bad_lines) == 1 else "lines"
    return f"{dotenv_path}: {noun} {', '.join(bad_lines)} not NAME=value, ignored"


def credentials_present(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return any(env.get(var, "").strip() for var in CREDENTIAL_VARS)


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    """Check the four credential variables for shape; errors name the variable, never its value."""
    env = os.environ if env is None else env
    missing = [var for var in CREDENTIAL_VARS if not env.get(var, "").strip()]
    if missing:
        raise ConfigError(f"credentials error: missing {', '.join(missing)} (set them in .env)")
    private_key = env["API_KEY_PRIVATE_KEY"].strip()
    public_key = env["API_KEY_PUBLIC_KEY"].strip()
    for var, value in (("API_KEY_PRIVATE_KEY", private_key), ("API_KEY_PUBLIC_KEY", public_key)):
        if not _HEX80.fullmatch(value):
            raise ConfigError(f"credentials error: {var} must be 80 hex characters, optionally 0x-prefixed")
    api_key_index = _int_var(env, "API_KEY_INDEX", 0, 254)
    account_index = _int_var(env, "ACCOUNT_INDEX", 1, 2**48)
    return Credentials(private_key, public_key, api_key_index, account_index)


def _int_var(env: Mapping[str, str], var: str, lo: int, hi: int) -> int:
    text = env[var].strip()
    if not re.fullmatch(r"\d+", text) or not lo <= int(text) <= hi:
        raise ConfigError(f"credentials error: {var} must be an integer in [{lo}, {hi}]")
    return int(text)
