"""The pytest plugin: audits the HTTP exchanges a test suite already makes through its
clients (requests, httpx, Django's and Werkzeug's test clients), with no proxy.

``plugin`` holds the pytest hooks (registered through the ``pytest11`` entry point, off
unless ``--statuslint`` or ``statuslint = true``), ``clients`` the hooks into each client
library, ``exchanges`` the building of the mitmproxy flow an exchange becomes, ``session``
the one audit of a test session, and ``summary`` the terminal section.
"""
