"""The module Dramatiq's worker processes import (``queue_services_server.delivery.worker:broker``).

It reads the settings once and builds the broker with its actors. `queue-services worker` checks
the settings before it starts Dramatiq, so a bad value fails there, clearly.
"""

from queue_services_server.delivery.broker import setup_broker
from queue_services_server.settings import Settings

broker = setup_broker(Settings())

__all__ = ["broker"]
