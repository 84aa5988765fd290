"""The product's version (the package metadata's, one place)."""

__version__ = "0.1.0"
