#!/usr/bin/env python3
"""Build, validate, inspect and replay-test the detection pack. See README.md."""
from detpack.cli import run

if __name__ == "__main__":
    run()
