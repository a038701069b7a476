"""Running Tally on a developer's machine (the README's first command)."""

from billing.settings.base import *  # noqa: F401,F403
from core.env import env_bool

DEBUG = env_bool("DEBUG", False)
