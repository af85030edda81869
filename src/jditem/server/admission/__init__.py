"""The admission pipeline of SPEC §2.4 and the charge of SPEC §2.5.

* :mod:`.call` — one call on its way through the steps (passed explicitly);
* :mod:`.answers` — what the endpoint answers, and each rejection's words;
* :mod:`.holds` — what a call takes before it is admitted, given back if it is not;
* :mod:`.pipeline` — :class:`~.pipeline.Admission`: the steps in the contract's order.
"""
