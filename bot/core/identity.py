"""Slack identity: display names (users.info) and user-group members (usergroups.users.list), TTL-cached."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.core.config import RoleConfig
from bot.core.events import Actor
from bot.core.slack_client import call_slack

logger = logging.getLogger(__name__)

T = TypeVar("T")


class _TTLCache(Generic[T]):
    """A small expiring map with single-flight loading: concurrent misses for one key share one call."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._values: dict[str, tuple[float, T]] = {}
        self._loading: dict[str, asyncio.Future[T | None]] = {}

    def get(self, key: str) -> T | None:
        hit = self._values.get(key)
        if hit is None:
            return None
        if self._clock() >= hit[0]:
            del self._values[key]
            return None
        return hit[1]

    async def load(self, key: str, loader: Callable[[], Awaitable[T | None]]) -> T | None:
        hit = self.get(key)
        if hit is not None:
            return hit
        pending = self._loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        try:
            value = await loader()
            if value is not None and self._ttl > 0:
                self._values[key] = (self._clock() + self._ttl, value)
            future.set_result(value)
            return value
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: a waiter may not exist
            raise
        finally:
            del self._loading[key]


class Identity:
    """Names and group members as Slack knows them, cached: users.info is Tier 4 and
    usergroups.users.list Tier 2 (20+/min), and a burst of sign-off clicks must not spend those."""

    def __init__(
        self,
        slack: AsyncWebClient,
        *,
        name_ttl: float = 600.0,
        group_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self._names: _TTLCache[str] = _TTLCache(name_ttl, clock)
        self._groups: _TTLCache[frozenset[str]] = _TTLCache(group_ttl, clock)

    def cached_name(self, user_id: str) -> str | None:
        """The display name if it is cached (no I/O: safe before the ack)."""
        return self._names.get(user_id)

    def actor(self, user_id: str, handle: str) -> Actor:
        """The person acting, named by their cached display name, else by their handle (no I/O:
        safe before the ack; a later ``users.info`` answer renames what they did)."""
        return Actor(user_id, self.cached_name(user_id) or handle)

    def actor_of_user(self, user: Mapping[str, Any]) -> Actor:
        """``actor`` for a verified payload's ``user`` object (its id and handle)."""
        by_handle = Actor.of_user(user)
        return self.actor(by_handle.user_id, by_handle.name)

    async def display_name(self, user_id: str, *, within: float = 5.0) -> str | None:
        """``profile.display_name``, else the real name; None if Slack does not answer in time."""

        async def fetch() -> str | None:
            response = await self._call("users.info", self._slack.users_info(user=user_id), within)
            if response is None:
                return None
            return display_name_of(response.get("user") or {})

        return await self._names.load(user_id, fetch)

    async def usergroup_members(self, group_id: str, *, within: float) -> frozenset[str] | None:
        """The user ids in a Slack user group; None if Slack does not answer in time."""

        async def fetch() -> frozenset[str] | None:
            response = await self._call(
                "usergroups.users.list",
                self._slack.usergroups_users_list(usergroup=group_id),
                within,
            )
            if response is None:
                return None
            return frozenset(str(u) for u in response.get("users") or [])

        return await self._groups.load(group_id, fetch)

    async def _call(
        self, method: str, call: Awaitable[AsyncSlackResponse], within: float
    ) -> dict[str, Any] | None:
        answer = await call_slack(asyncio.wait_for(call, within), what=method)
        if answer.response is None:
            return None
        data = answer.response.data
        return data if isinstance(data, dict) else None


def display_name_of(user: dict[str, Any]) -> str | None:
    profile = user.get("profile") or {}
    for candidate in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return None


# A user-group lookup before the ack must leave room in Slack's 3-second budget; a cache hit is free.
MEMBERSHIP_LOOKUP_SECONDS = 1.0


@dataclass(frozen=True)
class Membership:
    """Members of the user groups that decide a permission (the kill switch's allowed roles, who
    may close a launch), as far as Slack answered in time; ``unchecked`` are the groups it did not."""

    members: dict[str, frozenset[str]] = field(default_factory=dict)
    unchecked: tuple[str, ...] = ()


async def usergroup_membership(
    identity: Identity, user_id: str, groups: Sequence[str]
) -> Membership:
    """The members of ``groups`` (cached ``usergroups.users.list``), all asked at once within
    ``MEMBERSHIP_LOOKUP_SECONDS``. Once one group that answered holds ``user_id``, a group that did
    not answer changes nothing; otherwise those are ``unchecked`` (unknown, never "no")."""
    if not groups:
        return Membership()
    answers = await asyncio.gather(
        *(identity.usergroup_members(g, within=MEMBERSHIP_LOOKUP_SECONDS) for g in groups),
        return_exceptions=True,
    )
    members: dict[str, frozenset[str]] = {}
    unchecked: list[str] = []
    for group, answer in zip(groups, answers, strict=True):
        if isinstance(answer, frozenset):
            members[group] = answer
            continue
        if isinstance(answer, BaseException) and not isinstance(answer, Exception):
            raise answer
        if answer is not None:  # e.g. Slack unreachable: unknown, like no answer in time
            logger.warning("usergroups.users.list %s failed: %s", group, type(answer).__name__)
        unchecked.append(group)
    if any(user_id in m for m in members.values()):
        return Membership(members)  # a group that did not answer changes nothing then
    return Membership(members, tuple(unchecked))


# ---------------------------------------------------------------------------------------------------
# Who holds a role: listed in its ``users``, or a member of one of its ``usergroups``.


def holds(role: RoleConfig, user_id: str, members: Mapping[str, frozenset[str]]) -> bool:
    """``members``: the looked-up members of the role's user groups (a group not looked up counts as
    empty, so an unanswered lookup never grants anything)."""
    return user_id in role.users or any(
        user_id in members.get(g, frozenset()) for g in role.usergroups
    )


def roles_named(roles: Mapping[str, RoleConfig], role_ids: Sequence[str]) -> list[RoleConfig]:
    return [roles[r] for r in role_ids if r in roles]


def groups_deciding(roles: Sequence[RoleConfig], user_id: str) -> tuple[str, ...]:
    """The user groups whose membership decides whether ``user_id`` holds one of ``roles``: none when
    the user is listed directly (the common case needs no Slack call)."""
    if any(user_id in role.users for role in roles):
        return ()
    return tuple(dict.fromkeys(g for role in roles for g in role.usergroups))


def holds_any(
    roles: Sequence[RoleConfig], user_id: str, members: Mapping[str, frozenset[str]]
) -> bool:
    """No roles means nobody (fail closed)."""
    return any(holds(role, user_id, members) for role in roles)
