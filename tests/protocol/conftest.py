"""The vendor's published sample payload, for the protocol tests."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from jditem.protocol import Product

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "jd-detail-v1-abridged.json"


@pytest.fixture(scope="module")
def sample_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))["data"]
    return data


@pytest.fixture
def data(sample_data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(sample_data)


@pytest.fixture(scope="module")
def sample(sample_data: dict[str, Any]) -> Product:
    return Product.from_payload(sample_data)
