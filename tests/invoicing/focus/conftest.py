"""The official FOCUS validator, in a virtualenv of its own under .tally/ (its pins,
pandas and pandera among them, clash with Tally's), created on first use."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FOCUS_VALIDATOR_VENV = ROOT / ".tally" / "focus-validator-venv"
# focus-validator 1.0.x validates FOCUS 1.0; it breaks with multimethod 1.11 and later.
FOCUS_VALIDATOR_PINS = ("focus-validator==1.0.0", "multimethod<1.11")
DRIVER = Path(__file__).with_name("validate_with_focus_validator.py")


def _validator_python() -> Path:
    python = FOCUS_VALIDATOR_VENV / "bin" / "python"
    if not (FOCUS_VALIDATOR_VENV / "bin" / "focus-validator").exists():
        subprocess.run([sys.executable, "-m", "venv", str(FOCUS_VALIDATOR_VENV)], check=True)
        subprocess.run([str(FOCUS_VALIDATOR_VENV / "bin" / "pip"), "install", "-q",
                        *FOCUS_VALIDATOR_PINS], check=True)
    return python


@pytest.fixture(scope="session")
def focus_validate():
    """Validate a FOCUS file with focus-validator's FOCUS 1.0 rules: the checks that did
    not pass (an empty list when the file is valid) and how many ran."""
    python = _validator_python()
    package = subprocess.run(
        [str(python), "-c", "import focus_validator, os; "
         "print(os.path.dirname(os.path.dirname(focus_validator.__file__)))"],
        check=True, capture_output=True, text=True).stdout.strip()

    def validate(path: Path) -> dict:
        # The validator reads its currency list by a path relative to its package's
        # parent directory: run it from there.
        done = subprocess.run([str(python), str(DRIVER), str(path), "1.0"], cwd=package,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    return validate
