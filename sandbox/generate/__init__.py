"""Building blocks of the sandbox world generator (see `sandbox.world`).

Each module produces one family of Oura documents from a user's deterministic
day plan; `sandbox.world.World` ties them together under a moving clock.
"""
