"""Offline replay: read event files, run a search over them, judge detection tests; the test and replay commands."""
