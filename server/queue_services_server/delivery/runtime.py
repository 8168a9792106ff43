"""The worker runtime: what one worker process holds for delivery (Redis client, stores,
limiters, providers, senders, dispatchers), built once on the process's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from queue_services_server.delivery.callbacks import CallbackSender
from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.dispatch import Dispatcher, Enqueue
from queue_services_server.delivery.pacer import ChannelPacer
from queue_services_server.delivery.providers.base import Provider
from queue_services_server.delivery.providers.factory import build_provider
from queue_services_server.delivery.retention import RetentionSweeper
from queue_services_server.delivery.sender import BatchSender
from queue_services_server.settings import Settings
from queue_services_server.store.connection import StoreUnavailableError, connect
from queue_services_server.store.delivery import DeliveryStore
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.outbox import Outbox
from queue_services_server.store.pacing import PacingStore
from queue_services_server.store.records import CHANNELS
from queue_services_server.store.tiers import TierStore
from queue_services_server.store.upgrade import upgrade_store

logger = logging.getLogger("queue_services_server.worker")

#: Builds a channel's provider; tests hand in their own.
ProviderFactory = Callable[[str], Provider]


class WorkerRuntime:
    """Delivery state of one worker process. Create and use it on one event loop."""

    def __init__(
        self,
        settings: Settings,
        enqueue: Enqueue,
        *,
        provider_factory: ProviderFactory | None = None,
        dispatch: bool = True,
    ) -> None:
        self.settings = settings
        self.keys = KeySpace(settings.redis_prefix)
        self.redis = connect(settings.redis_url or "")
        self.jobs = JobStore(self.redis, self.keys)
        self.delivery = DeliveryStore(self.redis, self.keys)
        self.senders: dict[str, BatchSender] = {}
        self.providers: dict[str, Provider] = {}
        self.dispatchers: list[Dispatcher] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._batches: set[asyncio.Task[object]] = set()
        secret = settings.callback_secret or settings.webhook_secret
        self.callbacks = CallbackSender(
            self.redis,
            self.keys,
            secret.get_secret_value() if secret else None,
            max_attempts=settings.callback_max_attempts,
        )
        self._dispatch = dispatch
        self.retention = (
            RetentionSweeper(self.redis, self.keys, settings.job_retention_s)
            if settings.job_retention_s > 0
            else None
        )
        make_provider = provider_factory or (
            lambda channel: build_provider(channel, settings, Outbox(self.redis, self.keys))
        )
        for channel in CHANNELS:
            config = ChannelConfig.from_settings(settings, channel)
            pacer = ChannelPacer(PacingStore(self.redis, self.keys, channel), config)
            provider = make_provider(channel)
            self.providers[channel] = provider

            def account_of(workspace_id: str, channel: str = channel) -> str:
                return settings.provider_account(channel, workspace_id)

            sender = BatchSender(config, self.delivery, pacer, provider, account_of)
            self.senders[channel] = sender
            if dispatch:
                self.dispatchers.append(
                    # The room follows what this process's sender measures of the provider.
                    Dispatcher(
                        self.delivery,
                        config,
                        enqueue,
                        sender.provider_latency_s,
                        sender.latency_rising,
                    )
                )

    def start_batch(self, channel: str, batch_id: str, job_ids: list[str]) -> None:
        """Send a batch in the background, so that a worker thread is not held for its length
        (a slow provider keeps many batches at it at once). `close` waits for it."""
        task = asyncio.create_task(self.senders[channel].send_batch(batch_id, job_ids))
        self._batches.add(task)
        task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[object]) -> None:
        self._batches.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a batch failed", exc_info=task.exception())

    def start(self) -> None:
        """Start the dispatchers on the running loop, after writing the tiers the settings give
        (WORKSPACE_RATE_LIMITS) where a workspace has none yet, and once a store made by an
        earlier release is upgraded."""
        self._tasks = [asyncio.create_task(self._seed_tiers())]
        if self.dispatchers:
            self._tasks.append(asyncio.create_task(self._dispatch_after_upgrade()))
        if self._dispatch:
            self._tasks.append(asyncio.create_task(self.callbacks.run()))
            if self.retention is not None:
                self._tasks.append(asyncio.create_task(self.retention.run()))
        logger.info(
            "worker delivering: sms via %s, email via %s",
            self.providers["sms"].name,
            self.providers["email"].name,
        )

    async def stop_dispatching(self) -> None:
        """Stop taking new batches; batches already taken are still sent."""
        for dispatcher in self.dispatchers:
            dispatcher.stop()
        self.callbacks.stop()
        if self.retention is not None:
            self.retention.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _dispatch_after_upgrade(self) -> None:
        # Nothing is claimed before the store is in the current layout: a job of layout v1
        # waiting in the old schedule would otherwise wait behind everything created since.
        while True:
            try:
                await upgrade_store(self.redis, self.keys)
                break
            except StoreUnavailableError as exc:
                logger.warning("store upgrade check failed (Redis is away), again in 1 s: %s", exc)
                await asyncio.sleep(1)
        await asyncio.gather(*(dispatcher.run() for dispatcher in self.dispatchers))

    async def _seed_tiers(self) -> None:
        if not self.settings.workspace_rate_limits:
            return
        try:
            await TierStore(self.redis, self.keys).seed(self.settings.workspace_rate_limits)
        except StoreUnavailableError as exc:
            logger.warning("WORKSPACE_RATE_LIMITS not written (Redis is away): %s", exc)

    async def close(self) -> None:
        """Stop dispatching, let the batches being sent finish, and release providers and
        Redis."""
        await self.stop_dispatching()
        if self._batches:
            await asyncio.gather(*self._batches, return_exceptions=True)
        for provider in self.providers.values():
            await provider.aclose()
        await self.callbacks.aclose()
        await self.redis.aclose()
