"""The `ctrack` command line."""
