"""Provider API simulator (docstring completed below)."""

from .app import build_app
from .config import Faults, RateLimit, SimulatorConfig
from .server import SimulatorServer, add_arguments, config_from_args, serve

__all__ = [
    "Faults",
    "RateLimit",
    "SimulatorConfig",
    "SimulatorServer",
    "add_arguments",
    "build_app",
    "config_from_args",
    "serve",
]
