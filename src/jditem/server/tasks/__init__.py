"""The server's task queue (SPEC §2.6): coalescing, cache, leases, waiting, workers.

* :mod:`.service` — ``TaskService.resolve`` (admission step 8), ``submit``, ``get_task``;
* :mod:`.leases` — claim / heartbeat / complete / fail with attempt fencing;
* :mod:`.worker` — ``WorkerPool`` (in-process collection workers);
* :mod:`.cache` — the ``results`` table; :mod:`.outcome` — ``Outcome`` / ``TaskView``.

Nothing is imported here, so importing a small helper module stays cheap.
"""
