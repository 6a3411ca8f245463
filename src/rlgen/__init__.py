"""rlgen: reinforcement learning from reward and generative models with latent variables.

A lecture made executable: every topic is an importable module with a frozen config dataclass and
a ``run(config, run_dir)`` that writes a run directory, and a subcommand of the ``rlgen`` CLI.
"""

from rlgen.errors import UserError
from rlgen.runs import package_version

__version__ = package_version()
__all__ = ["UserError", "__version__"]
