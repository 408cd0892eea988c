"""Deployment file -> frozen model; the certificate plan.

The public names live in the submodules (each with its own ``__all__``): :mod:`.model`,
:mod:`.loader` (and its fast path :mod:`.fastload`), :mod:`.plan`, :mod:`.releases`,
:mod:`.secretenv` (the environment variables secret settings may not name), :mod:`.sources`
(:class:`~.sources.Source`, which :mod:`.model` exports too).
"""

__all__ = ["fastload", "loader", "model", "plan", "releases", "secretenv", "sources"]
