"""statuslint: audit HTTP status codes and headers in live or recorded traffic."""

__version__ = "0.1.0"
