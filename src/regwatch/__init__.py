"""regwatch: find, date and explain every change to export-control lists."""

__version__ = "0.1.0"
