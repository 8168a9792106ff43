"""The worker runtime: what one worker process holds for delivery (Redis client, stores,
limiters, providers, senders, dispatchers), built once on the process's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from queue_services_server.delivery.callbacks import CallbackSender
from queue_services_server.delivery.config import ChannelConfig
from queue_services_server.delivery.dispatch import Dispatcher, Enqueue
from queue_services_server.delivery.providers.base import Provider
from queue_services_server.delivery.providers.factory import build_provider
from queue_services_server.delivery.rate_limiter import Limit, RateLimiter
from queue_services_server.delivery.retention import RetentionSweeper
from queue_services_server.delivery.sender import BatchSender
from queue_services_server.settings import Settings
from queue_services_server.store.connection import connect
from queue_services_server.store.delivery import DeliveryStore
from queue_services_server.store.jobs import JobStore
from queue_services_server.store.keys import KeySpace
from queue_services_server.store.outbox import Outbox
from queue_services_server.store.records import CHANNELS

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
            workspace_limits = {
                workspace: Limit(limits[channel], config.window_ms)
                for workspace, limits in settings.workspace_rate_limits.items()
                if channel in limits
            }
            limiter = RateLimiter(
                self.redis,
                self.keys,
                channel,
                Limit(config.rate_limit, config.window_ms),
                workspace_limits,
            )
            provider = make_provider(channel)
            self.providers[channel] = provider
            sender = BatchSender(config, self.jobs, self.delivery, limiter, provider)
            self.senders[channel] = sender
            if dispatch:
                self.dispatchers.append(
                    # The room follows what this process's sender measures of the provider.
                    Dispatcher(self.delivery, config, enqueue, sender.provider_latency_s)
                )

    def start(self) -> None:
        """Start the dispatchers on the running loop."""
        self._tasks = [asyncio.create_task(d.run()) for d in self.dispatchers]
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

    async def close(self) -> None:
        """Stop dispatching and release providers and Redis."""
        await self.stop_dispatching()
        for provider in self.providers.values():
            await provider.aclose()
        await self.callbacks.aclose()
        await self.redis.aclose()
