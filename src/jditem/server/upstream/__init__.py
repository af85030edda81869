"""The relay's upstream side without the HTTP part: shared rate, circuit, accounting.

The relay collector (:mod:`jditem.server.collectors.relay`) drives these; the API
(admission, health) and the console read them. Nothing here imports the client.
"""
