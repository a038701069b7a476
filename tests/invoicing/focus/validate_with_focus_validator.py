"""Run inside the focus-validator virtualenv (not by pytest): validate one FOCUS file with
the official validator's rules and print every check that did not pass, as JSON.

    python validate_with_focus_validator.py FILE VERSION
"""

import json
import sys

from focus_validator.data_loaders.data_loader import DataLoader
from focus_validator.rules.spec_rules import SpecRules
from focus_validator.validator import DEFAULT_VERSION_SETS_PATH


def main(path: str, version: str) -> None:
    rules = SpecRules(override_filename=None, rule_set_path=DEFAULT_VERSION_SETS_PATH,
                      rules_version=version, column_namespace=None)
    rules.load()
    result = rules.validate(DataLoader(data_filename=path).load())
    problems = [
        {"check": name, "column": item.column_id, "status": item.status.value,
         "error": item.error, "rule": item.friendly_name}
        for name, item in result.checklist.items()
        if item.status.value not in ("passed", "skipped")
    ]
    failures = []
    if result.failure_cases is not None:
        failures = result.failure_cases.astype(str).to_dict("records")[:50]
    print(json.dumps({"checks": len(result.checklist), "problems": problems,
                      "failure_cases": failures}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
