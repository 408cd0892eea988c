"""Deployment file -> frozen model; the certificate plan.

The public names live in the submodules (each with its own ``__all__``): :mod:`.model`,
:mod:`.loader`, :mod:`.plan`, :mod:`.releases`.
"""

__all__ = ["loader", "model", "plan", "releases"]
