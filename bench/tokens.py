"""JWT access tokens for generated users, signed with the run's key (no login round trips).

Logging in thousands of learners would measure password hashing, not the scenario; the tokens
are made the way the login endpoint makes them, with the same signing key the server uses.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from accounts.models import User
from accounts.tokens import AccessToken


def access_tokens(user_ids: Iterable[uuid.UUID]) -> list[str]:
    ids = list(user_ids)
    users = User.objects.in_bulk(ids)
    missing = [str(user_id) for user_id in ids if user_id not in users]
    if missing:
        raise RuntimeError(f"no user with id {missing[0]} (and {len(missing) - 1} more)")
    return [str(AccessToken.for_user(users[user_id])) for user_id in ids]
