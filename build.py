#!/usr/bin/env python3
"""Build, validate, inspect and replay-test the detection pack. See README.md."""
import sys

from detpack.cli import main

if __name__ == "__main__":
    sys.exit(main())
