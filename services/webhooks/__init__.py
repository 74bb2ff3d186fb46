"""Provider webhook ingest: SendGrid events and Twilio SMS statuses onto the delivery topic."""
