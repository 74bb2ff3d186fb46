"""ctrack: client tracking and dynamic-password onboarding on Kafka."""
