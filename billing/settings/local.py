"""Running Tally on a developer's machine (the README's first command)."""

from billing.env import env_bool
from billing.settings.base import *  # noqa: F401,F403

DEBUG = env_bool("DEBUG", False)
