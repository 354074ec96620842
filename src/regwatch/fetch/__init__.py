"""The fetch layer: polite HTTP (`Fetcher`), per-source `FetchContext`, the snapshot store,
and the decode chain. Scrapers see only `FetchContext`."""

from regwatch.fetch.context import FetchContext, Issue, save_validators
from regwatch.fetch.encoding import Decoded, decode
from regwatch.fetch.http import Fetcher, FetchResult, Validators
from regwatch.fetch.snapshots import SnapshotStore

__all__ = ["Decoded", "FetchContext", "FetchResult", "Fetcher", "Issue", "SnapshotStore",
           "Validators", "decode", "save_validators"]
