"""The contract (SPEC.md): codes, envelope, pending status, item ids, Product normalizer.

Imports pydantic only; no I/O.
"""

from jditem.protocol.codes import HTTP_STATUS_FALLBACK, Code, RetryClass
from jditem.protocol.envelope import (
    PENDING_STATUSES,
    Envelope,
    PendingStatus,
    has_product_fields,
    looks_pending,
)
from jditem.protocol.ids import is_valid_item_id, item_id_problem, parse_item_ref
from jditem.protocol.product import Product

__all__ = [
    "HTTP_STATUS_FALLBACK",
    "PENDING_STATUSES",
    "Code",
    "Envelope",
    "PendingStatus",
    "Product",
    "RetryClass",
    "has_product_fields",
    "is_valid_item_id",
    "item_id_problem",
    "looks_pending",
    "parse_item_ref",
]
