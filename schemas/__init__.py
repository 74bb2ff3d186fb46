"""The contract: Avro schemas, the topic catalogue and the codec."""
