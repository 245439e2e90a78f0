# Auth tokens as minted by SignerClient.create_auth_token_with_expiry:
#   "{deadline_unix_s}:{account_index}:{api_key_index}:{signature_hex}"
#
# Rules: pure (the caller passes now_s). The signature cannot be verified (Schnorr over
# ECgFp5/Poseidon2), so only its shape is checked. Like the venue, reject tokens that have expired or
# whose deadline is more than 8 hours away, and tokens for another account than the one requested.
from __future__ import annotations

import re
from dataclasses import dataclass

from sim.lighter_errors import TxRejected

MAX_TOKEN_LIFETIME_S = 8 * 3600
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{2,}$")


@dataclass(frozen=True)
class AuthToken:
    deadline_s: int
    account_index: int
    api_key_index: int


def _invalid_auth(detail: str) -> TxRejected:
    return TxRejected(20013, f"invalid auth: {detail}")


def parse_auth_token(token: str | None, now_s: float) -> AuthToken:
    """Parse and check an auth token; raise TxRejected (HTTP 400) when it is unusable."""
    if not token:
        raise _invalid_auth("missing authorization")
    parts = token.strip().split(":")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or not _SIGNATURE.match(parts[3]):
        raise _invalid_auth("malformed token")
    deadline_s, account_index, api_key_index = (int(p) for p in parts[:3])
    if deadline_s <= now_s:
        raise _invalid_auth("token expired")
    if deadline_s > now_s + MAX_TOKEN_LIFETIME_S:
        raise _invalid_auth("token expiry is more than 8 hours away")
    return AuthToken(deadline_s, account_index, api_key_index)


def authorize_account(token: str | None, account_index: int, now_s: float) -> AuthToken:
    """A token grants access to its own account only."""
    parsed = parse_auth_token(token, now_s)
    if parsed.account_index != account_index:
        raise _invalid_auth("token belongs to another account")
    return parsed
