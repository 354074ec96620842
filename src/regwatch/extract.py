"""`regwatch extract`: what a normaliser makes of some files, as JSON. No database."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

# kind → module in regwatch.normalise providing `extract_files(paths) -> JSON value`
EXTRACTORS = {
    "egov_law": "regwatch.normalise.egov_law",
    "meti_press": "regwatch.normalise.meti_press",
    "press": "regwatch.normalise.press",
}


def extract_files(kind: str, files: list[Path]) -> str:
    module = importlib.import_module(EXTRACTORS[kind])
    return json.dumps(module.extract_files(files), ensure_ascii=False, indent=2, default=str) + "\n"
