"""oura-elt: Oura Ring data into a warehouse (the command-line front door)."""

__version__ = "0.1.0"
