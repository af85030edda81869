"""What goes in and what comes out: item lists read, product tables written.

Shared by the CLI (``jditem batch`` / ``jditem export``) and the server's console
(bulk-job uploads and downloads), so both read the same inputs and write the same
files. Pure: the standard library, :mod:`jditem.protocol`, and the optional writers'
libraries (pyarrow, XlsxWriter), imported only when used. Nothing here imports the
client, the batch engine, the CLI or the server (``tests/test_boundaries.py``).

* :mod:`.items` — item lists: plain lines, CSV, JSON Lines; bad lines reported, skipped;
* :mod:`.cells` — spreadsheet-safe text cells (formula injection);
* :mod:`.table` — the product table: columns, typed values, the requested-id tie;
* :mod:`.writers` — JSON Lines, CSV, Parquet and Excel writers of that table;
* :mod:`.files` — output files written under a temporary name and renamed into place.
"""
