"""oura-elt: Oura Ring data into a warehouse (the command-line front door and the report)."""

from pipelines.core.version import __version__

__all__ = ["__version__"]
