"""The bottom layer: settings, errors, the version, the clock, file locks and the warehouse
target. It imports nothing else of the project, and everything else may import it."""
