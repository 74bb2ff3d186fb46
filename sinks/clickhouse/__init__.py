"""The ClickHouse sink (embedded chdb or a server, chosen by the DSN)."""
