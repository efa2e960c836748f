"""``python -m as2sync.emulator [options]``: the same as ``as2sync emulator``."""

from __future__ import annotations

import argparse
import sys

from as2sync.emulator.cli import add_arguments, main

parser = argparse.ArgumentParser(
    prog="python -m as2sync.emulator", description="Local AS2 Gateway REST API v1 emulator."
)
add_arguments(parser)
sys.exit(main(parser.parse_args()))
