"""The local single-node Kafka broker (`ctrack stack up | down | status`)."""
