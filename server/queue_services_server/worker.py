"""The module Dramatiq's worker processes import (``dramatiq queue_services_server.worker``).

It reads the settings once, sets up the broker, then declares the actors. `queue-services
worker` checks the settings before it starts Dramatiq, so a bad value fails there, clearly.
"""

from queue_services_server.broker import setup_broker
from queue_services_server.settings import Settings

broker = setup_broker(Settings())

from queue_services_server import actors  # noqa: E402  (actors bind to the broker set above)

__all__ = ["actors", "broker"]
