"""The product tools: ``get_product`` and ``get_products``.

Thin adapters: check the arguments, ask :class:`~jditem.mcp.session.McpSession`, shape
the answer with :mod:`jditem.mcp.results`. Descriptions are written for a model: what
the tool does, what it costs, what to do on each outcome. The argument schemas come
from the annotations (``Field`` descriptions and bounds).
"""

# No ``from __future__ import annotations``: the SDK reads these annotations at runtime.

from typing import Annotated

from mcp.server import MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from jditem import errors
from jditem.mcp import results
from jditem.mcp.budget import BudgetRefused, format_yuan
from jditem.mcp.session import MAX_ITEMS_PER_CALL, ItemOutcome, McpSession, item_id_of

# Plain ``str`` (not ``str | None``): the SDK parses a JSON-looking string argument of any
# other type into an object first.
ItemRef = Annotated[
    str,
    Field(
        max_length=300,
        description="A JD item id (1-20 digits, e.g. 100012043978) or a JD item page URL "
        "(e.g. https://item.jd.com/100012043978.html). Omit it when passing continuation.",
    ),
]
Continuation = Annotated[
    str,
    Field(
        max_length=4000,
        description="The continuation of an earlier 'pending' result (starts with jdc1.), "
        "passed unchanged: resumes waiting for that item (omit item then).",
    ),
]
MaxAge = Annotated[
    float,
    Field(
        ge=0,
        le=1440,
        description="Reuse, free, a product this session fetched at most this many minutes "
        "ago. 0 always fetches anew (and is charged).",
    ),
]
ItemRefs = Annotated[
    list[Annotated[str, Field(max_length=300)]],
    Field(
        min_length=1,
        max_length=MAX_ITEMS_PER_CALL,
        description=f"1 to {MAX_ITEMS_PER_CALL} JD item ids or JD item page URLs; "
        "duplicates are fetched once.",
    ),
]

#: Both tools spend the user's money: not read-only, not idempotent.
SPENDS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)

_MONEY = (
    "Costs money: every item fetched with data is charged by the server (about {price} "
    "yuan each, as the user configured) and counted against this session's spending limit "
    "of {limit} yuan. A call that could pass the limit is refused before anything is "
    "sent: relay its message to the user. Products this session fetched within "
    "max_age_minutes are returned again free (source 'session')."
)

GET_PRODUCT = (
    "Fetch one JD.com product by item id or JD item URL: title, brand, category, shop, "
    "price in yuan (current, list, promo; JD may mask the current price, then masked is "
    "true), stock, images, services, promotions and variants, normalized by jditem "
    "(without JD's raw payload). The result says what the call cost and what is left of "
    "the session's spending limit.\n\n" + _MONEY + "\n\n"
    "Collection can take a while. If the item is not ready within {deadline:g} s the "
    "result has status 'pending' (not charged) with a continuation: call get_product "
    "again with continuation=<it> (and no item) after retry_after_s seconds.\n\n"
    "Errors come back as tool errors with the message and what to do: an item JD does "
    "not have (do not retry), an invalid id (fix it), rate limits and collection "
    "failures (try later), a token, balance, budget or quota problem (stop and tell the "
    "user)."
)

GET_PRODUCTS = (
    "Fetch up to {max_items} JD.com products in one call (ids or JD item URLs), "
    "concurrently within the server's rate limits. Returns one result per distinct item, "
    "in order, with status 'ok' (the product, as get_product returns it), 'pending' "
    "(still collecting, not charged: ask again later, or resume it with get_product and "
    "its continuation), 'error' (message and what to do) or 'not_fetched' (the tool's "
    "deadline of {deadline:g} s passed first: ask for it again), and the total cost.\n\n"
    + _MONEY
    + " The whole call is refused when its items together could pass the limit; the "
    "message says how many fit.\n\n"
    "A token, balance, budget or quota problem stops the call as a tool error: stop and "
    "tell the user."
)


def _one_result(session: McpSession, outcome: ItemOutcome) -> CallToolResult:
    price = session.settings.price_units
    body = {**results.item_body(outcome, price), "budget": session.budget.summary()}
    spend = _spend_line(session)
    if outcome.status == "ok":
        title = (outcome.product or {}).get("title") or "untitled"
        paid = (
            "reused from this session's earlier fetch, free"
            if outcome.source == "session"
            else f"charged {body['cost']['yuan']} yuan"
        )
        return results.tool_result(f"Item {outcome.item_id} ({title}): {paid}. {spend}", body)
    if outcome.status == "pending":
        return results.tool_result(f"{results.pending_message(outcome)} {spend}", body)
    assert outcome.error is not None
    return results.tool_result(f"{results.error_text(outcome.error)} {spend}", body, is_error=True)


def _spend_line(session: McpSession) -> str:
    budget = session.budget.summary()
    return (
        f"Session spending: {budget['spent_yuan']} of {budget['limit_yuan']} yuan "
        f"({budget['left_yuan']} left)."
    )


def register(server: MCPServer, session: McpSession) -> None:
    """Add ``get_product`` and ``get_products`` to ``server``."""
    settings = session.settings
    money = {
        "price": format_yuan(settings.price_units),
        "limit": format_yuan(settings.max_spend_units),
        "deadline": settings.tool_deadline,
        "max_items": MAX_ITEMS_PER_CALL,
    }

    async def get_product(
        item: ItemRef = "", continuation: Continuation = "", max_age_minutes: MaxAge = 10
    ) -> CallToolResult:
        if bool(item) == bool(continuation):
            return results.failure(
                errors.ConfigurationError(
                    "pass either item (an id or JD item URL) or continuation (from a pending "
                    "result), not both and not neither"
                ),
                session.budget,
            )
        try:
            if item:
                item_id = item_id_of(item)
                seen = session.remembered(item_id, max_age_minutes * 60)
                if seen is not None:
                    return _one_result(session, session.reused(item_id, seen))
                outcome = await session.fetch_one(item_id)
            else:
                resumed = results.decode_continuation(continuation)
                outcome = await session.fetch_one(continuation=resumed)
        except BudgetRefused as refused:
            return results.refusal(refused.message, session.budget)
        except errors.JditemError as error:
            return results.failure(error, session.budget)
        return _one_result(session, outcome)

    async def get_products(items: ItemRefs, max_age_minutes: MaxAge = 10) -> CallToolResult:
        order: list[str | ItemOutcome] = []  # an id to fetch, or the error of a bad one
        for ref in items:
            try:
                item_id = item_id_of(ref)
            except errors.ConfigurationError as error:
                order.append(ItemOutcome(ref, "error", error=error))
                continue
            if item_id not in order:
                order.append(item_id)
        ids = [entry for entry in order if isinstance(entry, str)]
        try:
            fetched, stopped = await session.fetch_many(ids, max_age_s=max_age_minutes * 60)
        except BudgetRefused as refused:
            return results.refusal(refused.message, session.budget)
        by_id = {outcome.item_id: outcome for outcome in fetched}
        outcomes = [by_id[e] if isinstance(e, str) else e for e in order]
        return _many_result(session, outcomes, stopped)

    server.add_tool(
        get_product,
        name="get_product",
        title="Get a JD.com product",
        description=GET_PRODUCT.format(**money),
        annotations=SPENDS,
    )
    server.add_tool(
        get_products,
        name="get_products",
        title="Get several JD.com products",
        description=GET_PRODUCTS.format(**money),
        annotations=SPENDS,
    )


def _many_result(
    session: McpSession, outcomes: list[ItemOutcome], stopped: errors.JditemError | None
) -> CallToolResult:
    price = session.settings.price_units
    why = f"the call stopped ({stopped.message})" if stopped is not None else None
    items = [results.item_body(o, price, stopped_by=why) for o in outcomes]
    counts = {status: 0 for status in ("ok", "pending", "error", "not_fetched")}
    for outcome in outcomes:
        counts[outcome.status] += 1
    reused = sum(1 for o in outcomes if o.source == "session" and o.status == "ok")
    charged = sum(o.tally.charged for o in outcomes)
    uncertain = sum(o.tally.uncertain for o in outcomes)
    cost = {
        "yuan": format_yuan((charged + uncertain) * price),
        "charged_items": charged,
        "possibly_charged_items": uncertain,
    }
    summary = (
        f"{counts['ok']} of {len(outcomes)} item(s) fetched ({reused} reused free), "
        f"{counts['pending']} pending, {counts['error']} failed, {counts['not_fetched']} "
        f"not fetched; this call cost {cost['yuan']} yuan. {_spend_line(session)}"
    )
    body = {
        "status": "stopped" if stopped is not None else "done",
        "results": items,
        "cost": cost,
        "budget": session.budget.summary(),
    }
    if stopped is not None:
        body["error"] = results.error_body(stopped)
        summary = f"{results.error_text(stopped)} {summary}"
    return results.tool_result(summary, body, is_error=stopped is not None)
