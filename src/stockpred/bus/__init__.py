"""Bus: the in-process default and adapters to Redis Streams, NATS JetStream and Kafka.

:func:`open_bus` picks one from a URL; :mod:`stockpred.bus.base` says what every one keeps.
"""

from stockpred.bus.base import Bus, Delivery, Record, Subscription
from stockpred.bus.factory import open_bus

__all__ = ["Bus", "Delivery", "Record", "Subscription", "open_bus"]
