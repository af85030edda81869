"""Server-rendered console at ``/console`` for the people who run the server.

One router per page in :mod:`.pages`: sign-in (``auth``), overview, tokens, balance, call
records, usage trends and spending (``trends``), Task Management (``tasks``), bulk jobs
(``jobs`` and their ``job_downloads``; run by :mod:`jditem.server.jobs.runner`), the
relay's upstream (``upstream``), account members (``members``), and your sessions and
password (``sessions``). Beside them the plumbing: request dependencies
(:mod:`.deps`), the signed session cookie and CSRF (:mod:`.session_cookie`), sessions as
database rows (:mod:`.session_store`), who sees what (:mod:`.principal`, :mod:`.scopes`),
forms, paging, formatting, charts, the bulk-job form (:mod:`.job_form`), and
:mod:`.mount`, which puts it all on the app. Jinja2 templates, one CSS file, a few lines
of progressive-enhancement JavaScript, inline SVG charts; no build step. Admin operations
go through :mod:`jditem.server.accounts.service`, like the admin API and CLI.
"""
