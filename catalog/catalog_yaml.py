"""Reading a catalog file: YAML (or JSON, which is YAML) with numbers as exact decimals.

PyYAML reads `rate: 0.10` as a float; a rate must never pass through one, so this
loader reads every YAML float as `Decimal` from its text, and dates stay strings
(instants are checked where they are used).
"""

from decimal import Decimal

import yaml
from rest_framework import exceptions
from rest_framework.parsers import BaseParser

CATALOG_FILE_UNREADABLE = "not a YAML or JSON catalog file: {reason}"


class _DecimalLoader(yaml.SafeLoader):
    """SafeLoader, but floats are Decimal and timestamps are their text."""


def _decimal(loader, node):
    return Decimal(loader.construct_scalar(node).replace("_", ""))


def _text(loader, node):
    return loader.construct_scalar(node)


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)
_DecimalLoader.add_constructor("tag:yaml.org,2002:timestamp", _text)


def catalog_file_load(text: str):
    """The parsed document; ValueError with the reason when it is not YAML."""
    try:
        return yaml.load(text, Loader=_DecimalLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        raise ValueError(CATALOG_FILE_UNREADABLE.format(reason=error)) from None


class CatalogYamlParser(BaseParser):
    """`Content-Type: application/yaml` request bodies (a catalog file as written)."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return catalog_file_load(stream.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise exceptions.ParseError(str(error)) from None
