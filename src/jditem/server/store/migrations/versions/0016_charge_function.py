"""the charge group commit as one PostgreSQL function

Revision ID: 0016_charge_function
Revises: 0015_webhook_creator
Create Date: 2026-12-06 15:30:00

Hand-written (issue 22, ranked change 1): ``jditem_charge_batch`` applies a batch of
charges that need only the money rules (token budget, account balance, daily quota, the
ledger, the call records and their hourly rollup) in ONE statement — its own
transaction — instead of ~9 round trips. It decides exactly as
``accounts.charge_plan.apply_batch`` does: it locks the token, account and quota rows in
the same order (tokens, accounts, quota counters; each by key), decides each charge in
arrival order, then writes guarded updates and the rows. A guard that matches no row
raises SQLSTATE ``JD001`` (the caller applies the batch one by one instead). The batch
comes as arrays, one element per charge; the result is one word per charge (a
``ChargeResult`` value). PostgreSQL only: SQLite keeps its writer thread.

A later migration that changes a column of ``tokens``, ``accounts``, ``quota_counters``,
``ledger``, ``call_records`` or ``usage_hourly`` that this function reads or writes must
replace the function too (``tests/server/accounts/test_charge_function.py`` holds it to
the reference and fails when the two differ).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016_charge_function"
down_revision: str | None = "0015_webhook_creator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The function's argument types, in order (also the DROP's signature).
ARGUMENTS = (
    # the charges: account, token, price, request id, item id, time, quota, quota day
    "p_account integer[], p_token integer[], p_price bigint[], p_request text[], "
    "p_item text[], p_now timestamptz[], p_quota integer[], p_day text[], "
    # their call records (c_request NULL: none), and the hour each counts in (usage.hour_of)
    "c_request text[], c_token integer[], c_account integer[], c_endpoint text[], "
    "c_item text[], c_code integer[], c_charged bigint[], c_task text[], "
    "c_latency integer[], c_created timestamptz[], c_watch integer[], c_hour timestamptz[]"
)

FUNCTION = f"""
CREATE OR REPLACE FUNCTION jditem_charge_batch({ARGUMENTS}) RETURNS text[]
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $fn$
DECLARE
  n integer := coalesce(cardinality(p_token), 0);
  res text[] := array_fill(NULL::text, ARRAY[n]);
  t_ids integer[]; t_budget bigint[]; t_spent bigint[]; t_add bigint[]; t_last timestamptz[];
  a_ids integer[]; a_balance bigint[]; a_pay bigint[];
  q_keys text[]; q_tok integer[]; q_day text[]; q_count integer[]; q_add integer[];
  q_limit integer[];
  i integer; ti integer; ai integer; qi integer; qk text; changed integer; r record;
BEGIN
  -- lock and read the rows planned from, in one order (tokens, accounts, quota counters;
  -- each by key), as charge_plan.apply_batch does: two batches never deadlock
  SELECT coalesce(array_agg(id ORDER BY id), '{{}}'), array_agg(budget ORDER BY id),
         array_agg(spent ORDER BY id)
    INTO t_ids, t_budget, t_spent
    FROM (SELECT id, budget, spent FROM tokens WHERE id = ANY (p_token)
          ORDER BY id FOR NO KEY UPDATE) AS locked;
  t_add := array_fill(0::bigint, ARRAY[cardinality(t_ids)]);
  t_last := array_fill(NULL::timestamptz, ARRAY[cardinality(t_ids)]);
  SELECT coalesce(array_agg(id ORDER BY id), '{{}}'), array_agg(balance ORDER BY id)
    INTO a_ids, a_balance
    FROM (SELECT id, balance FROM accounts WHERE id = ANY (p_account)
          ORDER BY id FOR NO KEY UPDATE) AS locked;
  a_pay := array_fill(0::bigint, ARRAY[cardinality(a_ids)]);
  SELECT coalesce(array_agg(token_id || ' ' || day ORDER BY token_id, day), '{{}}'),
         coalesce(array_agg(token_id ORDER BY token_id, day), '{{}}'),
         coalesce(array_agg(day ORDER BY token_id, day), '{{}}'),
         coalesce(array_agg(count ORDER BY token_id, day), '{{}}')
    INTO q_keys, q_tok, q_day, q_count
    FROM (SELECT token_id, day, count FROM quota_counters
          WHERE (token_id, day) IN (SELECT u.t, u.d FROM unnest(p_token, p_day, p_quota)
                                    AS u(t, d, q) WHERE u.q IS NOT NULL AND u.d <> '')
          ORDER BY token_id, day FOR NO KEY UPDATE) AS locked;
  q_add := array_fill(0, ARRAY[cardinality(q_keys)]);
  q_limit := array_fill(0, ARRAY[cardinality(q_keys)]);

  -- decide in arrival order (charge_plan.apply_batch): quota, budget, balance
  FOR i IN 1 .. n LOOP
    qi := NULL;
    IF p_quota[i] IS NOT NULL AND coalesce(p_day[i], '') <> '' THEN
      qk := p_token[i] || ' ' || p_day[i];
      qi := array_position(q_keys, qk);
      IF qi IS NULL THEN  -- no row yet: q_count NULL
        q_keys := q_keys || qk; q_tok := q_tok || p_token[i]; q_day := q_day || p_day[i];
        q_count := q_count || NULL::integer; q_add := q_add || 0; q_limit := q_limit || 0;
        qi := cardinality(q_keys);
      END IF;
      IF coalesce(q_count[qi], 0) + q_add[qi] >= p_quota[i] THEN
        res[i] := 'quota_exceeded';
        CONTINUE;
      END IF;
    END IF;
    ti := array_position(t_ids, p_token[i]);
    IF ti IS NULL OR (t_budget[ti] IS NOT NULL
                      AND t_spent[ti] + t_add[ti] + p_price[i] > t_budget[ti]) THEN
      res[i] := 'budget_exhausted';
      CONTINUE;
    END IF;
    ai := array_position(a_ids, p_account[i]);
    IF ai IS NULL OR a_balance[ai] - a_pay[ai] < p_price[i] THEN
      res[i] := 'insufficient_balance';
      CONTINUE;
    END IF;
    t_add[ti] := t_add[ti] + p_price[i];
    t_last[ti] := greatest(t_last[ti], p_now[i]);
    a_pay[ai] := a_pay[ai] + p_price[i];
    IF qi IS NOT NULL THEN
      q_add[qi] := q_add[qi] + 1;
      q_limit[qi] := greatest(q_limit[qi], p_quota[i]);
    END IF;
    res[i] := 'charged';
  END LOOP;

  -- guarded writes: a guard matching no row means the plan is stale (JD001)
  UPDATE tokens AS t SET spent = t.spent + d.amount, last_used_at = d.at
    FROM unnest(t_ids, t_add, t_last) AS d(id, amount, at)
    WHERE t.id = d.id AND d.amount > 0
      AND (t.budget IS NULL OR t.spent + d.amount <= t.budget);
  GET DIAGNOSTICS changed = ROW_COUNT;
  IF changed <> (SELECT count(*) FROM unnest(t_add) AS a WHERE a > 0) THEN
    RAISE EXCEPTION 'a token changed while its charges were planned' USING ERRCODE = 'JD001';
  END IF;
  UPDATE accounts AS a SET balance = a.balance - d.amount
    FROM unnest(a_ids, a_pay) AS d(id, amount)
    WHERE a.id = d.id AND d.amount > 0 AND a.balance >= d.amount;
  GET DIAGNOSTICS changed = ROW_COUNT;
  IF changed <> (SELECT count(*) FROM unnest(a_pay) AS p WHERE p > 0) THEN
    RAISE EXCEPTION 'an account changed while its charges were planned' USING ERRCODE = 'JD001';
  END IF;
  UPDATE quota_counters AS q SET count = q.count + d.n
    FROM unnest(q_tok, q_day, q_add, q_limit, q_count) AS d(t, day, n, lim, was)
    WHERE q.token_id = d.t AND q.day = d.day AND d.was IS NOT NULL AND d.n > 0
      AND q.count + d.n <= d.lim;
  GET DIAGNOSTICS changed = ROW_COUNT;
  IF changed <> (SELECT count(*) FROM unnest(q_add, q_count) AS d(n, was)
                 WHERE d.was IS NOT NULL AND d.n > 0) THEN
    RAISE EXCEPTION 'a quota changed while it was planned' USING ERRCODE = 'JD001';
  END IF;
  -- a quota row another transaction inserts meanwhile: unique violation (the caller
  -- treats it as a stale plan, as apply_batch does)
  INSERT INTO quota_counters (token_id, day, count)
    SELECT d.t, d.day, d.n FROM unnest(q_tok, q_day, q_add, q_count) AS d(t, day, n, was)
    WHERE d.was IS NULL AND d.n > 0 ORDER BY d.t, d.day;

  INSERT INTO ledger (account_id, token_id, kind, amount, request_id, item_id, created_at)
    SELECT u.a, u.t, 'charge', -u.p, u.r, u.it, u.at
    FROM unnest(p_account, p_token, p_price, p_request, p_item, p_now, res)
         WITH ORDINALITY AS u(a, t, p, r, it, at, rs, o)
    WHERE u.rs = 'charged' ORDER BY u.o;
  INSERT INTO call_records (request_id, token_id, account_id, endpoint, item_id, code,
                            charged, task_id, latency_ms, created_at, watch_list_id)
    SELECT u.r, u.t, u.a, u.e, u.it, u.c, u.ch, u.task, u.lat, u.at, u.w
    FROM unnest(c_request, c_token, c_account, c_endpoint, c_item, c_code, c_charged,
                c_task, c_latency, c_created, c_watch, res)
         WITH ORDINALITY AS u(r, t, a, e, it, c, ch, task, lat, at, w, rs, o)
    WHERE u.rs = 'charged' AND u.r IS NOT NULL ORDER BY u.o;
  -- the hourly rollup, in key order (as usage.write_calls): update, else insert
  FOR r IN
    SELECT u.h, coalesce(u.t, 0) AS t, u.c, count(*) AS calls, sum(u.ch) AS spend
    FROM unnest(c_hour, c_token, c_code, c_charged, c_request, res) AS u(h, t, c, ch, req, rs)
    WHERE u.rs = 'charged' AND u.req IS NOT NULL
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  LOOP
    UPDATE usage_hourly SET calls = calls + r.calls, spend = spend + r.spend
      WHERE hour = r.h AND token_id = r.t AND code = r.c;
    IF NOT FOUND THEN
      INSERT INTO usage_hourly AS u (hour, token_id, code, calls, spend)
        VALUES (r.h, r.t, r.c, r.calls, r.spend)
        ON CONFLICT (hour, token_id, code)
        DO UPDATE SET calls = u.calls + excluded.calls, spend = u.spend + excluded.spend;
    END IF;
  END LOOP;
  RETURN res;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS jditem_charge_batch({ARGUMENTS})")
