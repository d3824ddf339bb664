"""Bus: the in-process default and adapters to Redis Streams, NATS JetStream and Kafka."""
