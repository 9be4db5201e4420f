"""The clients' public methods, generated from the operations in ``imdsclient._api``.

Do not edit: run ``python tools/generate_methods.py`` after changing an operation.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from imdsclient._api import values as _values

if TYPE_CHECKING:
    from imdsclient._api import events as _events
    from imdsclient._api import iam as _iam
    from imdsclient._api import identity as _identity
    from imdsclient._api import network as _network
    from imdsclient._api import public_keys as _public_keys
    from imdsclient._api import verified_identity as _verified_identity
    from imdsclient._api import watch as _watch
    from imdsclient._flow import Flow
    from imdsclient._session import Session

__all__ = ["AsyncMethods", "SyncMethods"]

T = TypeVar("T")


class SyncMethods:
    """Every public operation as a method; the shell provides ``_run``."""

    _session: Session

    def _run(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    def _stream(self, flow: Flow[None]) -> Iterator[Any]:
        raise NotImplementedError

    def dump(self, path: str = "", *, include_credentials: bool = False) -> builtins.dict[str, Any]:
        """The tree under ``path`` as nested dicts of text; credentials only if asked."""
        from imdsclient._api import crawl as _crawl

        return self._run(_crawl.dump(self._session, path, include_credentials=include_credentials))

    def tags(self) -> builtins.dict[str, str]:
        """Instance tags; ``{}`` when tags are not enabled in instance metadata."""
        from imdsclient._api import crawl as _crawl

        return self._run(_crawl.tags(self._session))

    def block_device_mapping(self) -> builtins.dict[str, str]:
        """Virtual device name (``ami``, ``root``, ``ebs1``…) → device name."""
        from imdsclient._api import crawl as _crawl

        return self._run(_crawl.block_device_mapping(self._session))

    def spot_instance_action(self) -> _events.SpotInstanceAction | None:
        """The pending Spot interruption, or ``None``."""
        from imdsclient._api import events as _events

        return self._run(_events.spot_instance_action(self._session))

    def rebalance_recommendation(self) -> _events.RebalanceRecommendation | None:
        """The rebalance recommendation, or ``None``."""
        from imdsclient._api import events as _events

        return self._run(_events.rebalance_recommendation(self._session))

    def scheduled_events(self) -> builtins.list[_events.ScheduledEvent]:
        """Scheduled maintenance events; ``[]`` when there are none."""
        from imdsclient._api import events as _events

        return self._run(_events.scheduled_events(self._session))

    def iam_info(self) -> _iam.IAMInfo | None:
        """The instance profile, or ``None`` when no profile is attached."""
        from imdsclient._api import iam as _iam

        return self._run(_iam.iam_info(self._session))

    def iam_credentials(self, role: str | None = None) -> _iam.IAMCredentials:
        """The role's temporary credentials: one GET once the role is known; never cached.

        Without ``role`` the role is discovered once (or taken from ``instance_profile_name``) and
        kept; if the remembered role answers 404 (the profile changed), it is discovered again,
        once.  With ``extended_credentials`` the extended folder is tried first and whichever folder
        answers is remembered."""
        from imdsclient._api import iam as _iam

        return self._run(_iam.iam_credentials(self._session, role))

    def instance_identity(self) -> _identity.InstanceIdentityDocument:
        """The instance identity document (cached per client)."""
        from imdsclient._api import identity as _identity

        return self._run(_identity.instance_identity(self._session))

    def instance_id(self) -> str:
        """This instance's id, ``i-…`` (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return self._run(_immutable.instance_id(self._session))

    def region(self) -> str:
        """The AWS region, e.g. ``us-east-1`` (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return self._run(_immutable.region(self._session))

    def availability_zone(self) -> str:
        """The availability zone, e.g. ``us-east-1a`` (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return self._run(_immutable.availability_zone(self._session))

    def account_id(self) -> str:
        """The AWS account id owning the instance (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return self._run(_immutable.account_id(self._session))

    def cache_clear(self) -> None:
        """Forget the cached immutable values and the IAM role name; sends nothing."""
        from imdsclient._api import immutable as _immutable

        return self._run(_immutable.cache_clear(self._session))

    def instance_life_cycle(self) -> str:
        """How the instance was bought: ``on-demand``, ``spot``, ``capacity-block``… (an open
        string: AWS adds kinds); cached per client."""
        from imdsclient._api import lifecycle as _lifecycle

        return self._run(_lifecycle.instance_life_cycle(self._session))

    def autoscaling_target_lifecycle_state(self) -> str | None:
        """The Auto Scaling lifecycle state the instance is moving to (``InService``,
        ``Terminated``, ``Warmed:Stopped``…), or ``None`` outside an Auto Scaling group; never
        cached."""
        from imdsclient._api import lifecycle as _lifecycle

        return self._run(_lifecycle.autoscaling_target_lifecycle_state(self._session))

    def network_interfaces(self) -> builtins.list[_network.NetworkInterface]:
        """Every network interface, ordered by device number (the primary one first)."""
        from imdsclient._api import network as _network

        return self._run(_network.network_interfaces(self._session))

    def placement_group_name(self) -> str | None:
        """The placement group's name, or ``None`` when the instance is in none."""
        from imdsclient._api import placement as _placement

        return self._run(_placement.placement_group_name(self._session))

    def partition_number(self) -> int | None:
        """The partition of a partition placement group (1 to 7), or ``None`` when not in one."""
        from imdsclient._api import placement as _placement

        return self._run(_placement.partition_number(self._session))

    def host_id(self) -> str | None:
        """The Dedicated Host's id (``h-…``), or ``None`` when the instance is not on one."""
        from imdsclient._api import placement as _placement

        return self._run(_placement.host_id(self._session))

    def public_keys(self) -> builtins.list[_public_keys.PublicKey]:
        """The SSH key pairs (with their OpenSSH public key); ``[]`` when the instance has none.

        Bounded like a crawl: at most ``MAX_CRAWL_ENTRIES`` keys and ``MAX_CRAWL_BYTES`` in all."""
        from imdsclient._api import public_keys as _public_keys

        return self._run(_public_keys.public_keys(self._session))

    def user_data(self) -> bytes | None:
        """The exact bytes of the user data, or ``None`` when there is none."""
        from imdsclient._api import user_data as _user_data

        return self._run(_user_data.user_data(self._session))

    def get(self, path: str) -> str:
        """The value at ``path`` (relative paths are under ``/latest/meta-data/``)."""
        return self._run(_values.get_text(self._session, path))

    def get_bytes(self, path: str) -> bytes:
        """The exact bytes served at ``path``."""
        return self._run(_values.get_bytes(self._session, path))

    def get_json(self, path: str) -> Any:
        """The value at ``path`` parsed as JSON."""
        return self._run(_values.get_json(self._session, path))

    def list(self, path: str = "") -> builtins.list[str]:
        """The entries of a folder; names ending in '/' are folders."""
        return self._run(_values.listing(self._session, path))

    def is_available(self) -> bool:
        """Whether IMDS answers; one quick attempt, never raises."""
        return self._run(_values.is_available(self._session))

    def verified_identity(
        self,
        *,
        certificates: _verified_identity.Certificates | None = None,
        allow_dsa: bool = False,
    ) -> _verified_identity.VerifiedIdentity:
        """The identity document with its ``rsa2048`` signature verified (cached per client).

        Fetches the document and ``rsa2048`` (one GET each, once per client); needs the
        ``[verify]`` extra.

        Where IMDS has no ``rsa2048`` (404), ``allow_dsa=True`` falls back to ``pkcs7``.  The bodies
        are cached once they have verified, so a failure is fetched afresh next time."""
        from imdsclient._api import verified_identity as _verified_identity

        return self._run(
            _verified_identity.verified_identity(
                self._session, certificates=certificates, allow_dsa=allow_dsa
            )
        )

    def watch(
        self,
        *,
        interval: float = 5.0,
        kinds: Iterable[str] | None = None,
        blind_after: float = 30.0,
        max_polls: int | None = None,
        on_poll: Callable[[_watch.WatchStatus], object] | None = None,
    ) -> Iterator[_watch.InstanceEvent]:
        """Each new or changed event about the instance's future, as it appears (docs/watch.md).

        Every ``interval`` seconds one poll reads the Spot notice, the rebalance recommendation,
        the scheduled maintenance events and the Auto Scaling target lifecycle state (``kinds``
        limits which): one GET each once the token is warm.  What is pending at the first poll
        is yielded by it; after that an event is yielded again only when it changes.  A source
        that cannot be read is logged and read again at the next poll; one unread for longer
        than ``blind_after`` seconds is logged as a WARNING and listed in the ``WatchStatus``
        passed to ``on_poll`` after each poll.  Only a first poll that can read nothing raises
        (off EC2, IMDS disabled).  Runs until the caller stops iterating, or for ``max_polls``."""
        from imdsclient._api import watch as _watch

        return self._stream(
            _watch.watch(
                self._session,
                interval=interval,
                kinds=kinds,
                blind_after=blind_after,
                max_polls=max_polls,
                on_poll=on_poll,
            )
        )


class AsyncMethods:
    """Every public operation as a awaitable method; the shell provides ``_run``."""

    _session: Session

    async def _run(self, flow: Flow[T]) -> T:
        raise NotImplementedError

    def _stream(self, flow: Flow[None]) -> AsyncIterator[Any]:
        raise NotImplementedError

    async def dump(
        self, path: str = "", *, include_credentials: bool = False
    ) -> builtins.dict[str, Any]:
        """The tree under ``path`` as nested dicts of text; credentials only if asked."""
        from imdsclient._api import crawl as _crawl

        return await self._run(
            _crawl.dump(self._session, path, include_credentials=include_credentials)
        )

    async def tags(self) -> builtins.dict[str, str]:
        """Instance tags; ``{}`` when tags are not enabled in instance metadata."""
        from imdsclient._api import crawl as _crawl

        return await self._run(_crawl.tags(self._session))

    async def block_device_mapping(self) -> builtins.dict[str, str]:
        """Virtual device name (``ami``, ``root``, ``ebs1``…) → device name."""
        from imdsclient._api import crawl as _crawl

        return await self._run(_crawl.block_device_mapping(self._session))

    async def spot_instance_action(self) -> _events.SpotInstanceAction | None:
        """The pending Spot interruption, or ``None``."""
        from imdsclient._api import events as _events

        return await self._run(_events.spot_instance_action(self._session))

    async def rebalance_recommendation(self) -> _events.RebalanceRecommendation | None:
        """The rebalance recommendation, or ``None``."""
        from imdsclient._api import events as _events

        return await self._run(_events.rebalance_recommendation(self._session))

    async def scheduled_events(self) -> builtins.list[_events.ScheduledEvent]:
        """Scheduled maintenance events; ``[]`` when there are none."""
        from imdsclient._api import events as _events

        return await self._run(_events.scheduled_events(self._session))

    async def iam_info(self) -> _iam.IAMInfo | None:
        """The instance profile, or ``None`` when no profile is attached."""
        from imdsclient._api import iam as _iam

        return await self._run(_iam.iam_info(self._session))

    async def iam_credentials(self, role: str | None = None) -> _iam.IAMCredentials:
        """The role's temporary credentials: one GET once the role is known; never cached.

        Without ``role`` the role is discovered once (or taken from ``instance_profile_name``) and
        kept; if the remembered role answers 404 (the profile changed), it is discovered again,
        once.  With ``extended_credentials`` the extended folder is tried first and whichever folder
        answers is remembered."""
        from imdsclient._api import iam as _iam

        return await self._run(_iam.iam_credentials(self._session, role))

    async def instance_identity(self) -> _identity.InstanceIdentityDocument:
        """The instance identity document (cached per client)."""
        from imdsclient._api import identity as _identity

        return await self._run(_identity.instance_identity(self._session))

    async def instance_id(self) -> str:
        """This instance's id, ``i-…`` (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return await self._run(_immutable.instance_id(self._session))

    async def region(self) -> str:
        """The AWS region, e.g. ``us-east-1`` (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return await self._run(_immutable.region(self._session))

    async def availability_zone(self) -> str:
        """The availability zone, e.g. ``us-east-1a`` (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return await self._run(_immutable.availability_zone(self._session))

    async def account_id(self) -> str:
        """The AWS account id owning the instance (cached per client)."""
        from imdsclient._api import immutable as _immutable

        return await self._run(_immutable.account_id(self._session))

    async def cache_clear(self) -> None:
        """Forget the cached immutable values and the IAM role name; sends nothing."""
        from imdsclient._api import immutable as _immutable

        return await self._run(_immutable.cache_clear(self._session))

    async def instance_life_cycle(self) -> str:
        """How the instance was bought: ``on-demand``, ``spot``, ``capacity-block``… (an open
        string: AWS adds kinds); cached per client."""
        from imdsclient._api import lifecycle as _lifecycle

        return await self._run(_lifecycle.instance_life_cycle(self._session))

    async def autoscaling_target_lifecycle_state(self) -> str | None:
        """The Auto Scaling lifecycle state the instance is moving to (``InService``,
        ``Terminated``, ``Warmed:Stopped``…), or ``None`` outside an Auto Scaling group; never
        cached."""
        from imdsclient._api import lifecycle as _lifecycle

        return await self._run(_lifecycle.autoscaling_target_lifecycle_state(self._session))

    async def network_interfaces(self) -> builtins.list[_network.NetworkInterface]:
        """Every network interface, ordered by device number (the primary one first)."""
        from imdsclient._api import network as _network

        return await self._run(_network.network_interfaces(self._session))

    async def placement_group_name(self) -> str | None:
        """The placement group's name, or ``None`` when the instance is in none."""
        from imdsclient._api import placement as _placement

        return await self._run(_placement.placement_group_name(self._session))

    async def partition_number(self) -> int | None:
        """The partition of a partition placement group (1 to 7), or ``None`` when not in one."""
        from imdsclient._api import placement as _placement

        return await self._run(_placement.partition_number(self._session))

    async def host_id(self) -> str | None:
        """The Dedicated Host's id (``h-…``), or ``None`` when the instance is not on one."""
        from imdsclient._api import placement as _placement

        return await self._run(_placement.host_id(self._session))

    async def public_keys(self) -> builtins.list[_public_keys.PublicKey]:
        """The SSH key pairs (with their OpenSSH public key); ``[]`` when the instance has none.

        Bounded like a crawl: at most ``MAX_CRAWL_ENTRIES`` keys and ``MAX_CRAWL_BYTES`` in all."""
        from imdsclient._api import public_keys as _public_keys

        return await self._run(_public_keys.public_keys(self._session))

    async def user_data(self) -> bytes | None:
        """The exact bytes of the user data, or ``None`` when there is none."""
        from imdsclient._api import user_data as _user_data

        return await self._run(_user_data.user_data(self._session))

    async def get(self, path: str) -> str:
        """The value at ``path`` (relative paths are under ``/latest/meta-data/``)."""
        return await self._run(_values.get_text(self._session, path))

    async def get_bytes(self, path: str) -> bytes:
        """The exact bytes served at ``path``."""
        return await self._run(_values.get_bytes(self._session, path))

    async def get_json(self, path: str) -> Any:
        """The value at ``path`` parsed as JSON."""
        return await self._run(_values.get_json(self._session, path))

    async def list(self, path: str = "") -> builtins.list[str]:
        """The entries of a folder; names ending in '/' are folders."""
        return await self._run(_values.listing(self._session, path))

    async def is_available(self) -> bool:
        """Whether IMDS answers; one quick attempt, never raises."""
        return await self._run(_values.is_available(self._session))

    async def verified_identity(
        self,
        *,
        certificates: _verified_identity.Certificates | None = None,
        allow_dsa: bool = False,
    ) -> _verified_identity.VerifiedIdentity:
        """The identity document with its ``rsa2048`` signature verified (cached per client).

        Fetches the document and ``rsa2048`` (one GET each, once per client); needs the
        ``[verify]`` extra.

        Where IMDS has no ``rsa2048`` (404), ``allow_dsa=True`` falls back to ``pkcs7``.  The bodies
        are cached once they have verified, so a failure is fetched afresh next time."""
        from imdsclient._api import verified_identity as _verified_identity

        return await self._run(
            _verified_identity.verified_identity(
                self._session, certificates=certificates, allow_dsa=allow_dsa
            )
        )

    def watch(
        self,
        *,
        interval: float = 5.0,
        kinds: Iterable[str] | None = None,
        blind_after: float = 30.0,
        max_polls: int | None = None,
        on_poll: Callable[[_watch.WatchStatus], object] | None = None,
    ) -> AsyncIterator[_watch.InstanceEvent]:
        """Each new or changed event about the instance's future, as it appears (docs/watch.md).

        Every ``interval`` seconds one poll reads the Spot notice, the rebalance recommendation,
        the scheduled maintenance events and the Auto Scaling target lifecycle state (``kinds``
        limits which): one GET each once the token is warm.  What is pending at the first poll
        is yielded by it; after that an event is yielded again only when it changes.  A source
        that cannot be read is logged and read again at the next poll; one unread for longer
        than ``blind_after`` seconds is logged as a WARNING and listed in the ``WatchStatus``
        passed to ``on_poll`` after each poll.  Only a first poll that can read nothing raises
        (off EC2, IMDS disabled).  Runs until the caller stops iterating, or for ``max_polls``."""
        from imdsclient._api import watch as _watch

        return self._stream(
            _watch.watch(
                self._session,
                interval=interval,
                kinds=kinds,
                blind_after=blind_after,
                max_polls=max_polls,
                on_poll=on_poll,
            )
        )
