"""Subcommands of the areas of the system, registered with the ``scorestream`` parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Registration = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

REGISTRATIONS: list[Registration] = []
