"""Producers: put contract events onto Kafka."""
