"""e-Gov Law API v2: every revision of the configured control-list laws.

For each law ID: read `/law_revisions/{law_id}` and fetch `/law_data/{revision_id}` only
for revisions not yet stored, or whose record changed (a correction, 正誤, moves its
`updated` stamp and may move its dates or status). The API sends no ETag, so revision IDs
and records are the change signal. The full text is
kept as XML, the canonical artefact (the API calls its JSON a trial format); a JSON node
tree is converted to XML, preserving child order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from regwatch.derive.law_history import REVISION_KIND
from regwatch.errors import ParseError
from regwatch.fetch.context import FetchContext
from regwatch.models import Document
from regwatch.scraper import Scraper


@dataclass(frozen=True)
class Options:
    law_ids: list[str] = field(default_factory=list)
    # "xml": ask law_data for the text as XML (base64 in the JSON body);
    # "json": ask for the JSON node tree and convert it to XML here.
    full_text_format: str = "xml"


class EgovLaw(Scraper):
    kind = "egov_law"
    Options = Options

    def scrape(self, ctx: FetchContext) -> Iterator[Document]:
        base = self.source.url.rstrip("/")
        for law_id in self.options.law_ids:
            with ctx.item(f"{base}/law_revisions/{law_id}"):
                yield from self._law(ctx, base, law_id)

    def _law(self, ctx: FetchContext, base: str, law_id: str) -> Iterator[Document]:
        url = f"{base}/law_revisions/{law_id}"
        listing = ctx.fetch(url, conditional=False)
        revisions = parse_revision_list(listing.content or b"", source=url)
        yield ctx.document(url, kind="egov_law_revisions", key=f"revisions:{law_id}",
                           metadata={"law_id": law_id}, result=listing)
        stored = {key: meta for key, meta in ctx.stored_metadata_map(kind=REVISION_KIND).items()
                  if meta.get("law_id") == law_id}
        taken: set[str] = set()
        for record in revisions:
            rev_id = record["law_revision_id"]
            data_url = (f"{base}/law_data/{rev_id}?law_full_text_format="
                        f"{'json' if self.options.full_text_format == 'json' else 'xml'}")
            meta = {"law_id": law_id, "law_revision_id": rev_id, "revision": record}
            # The whole record, not only `updated`: a corrected date must never be missed.
            if rev_id in stored and stored[rev_id].get("revision") == record:
                yield Document(source=self.source.name, key=rev_id, url=data_url,
                               kind=REVISION_KIND, fetched_at=ctx.now, snapshot=None,
                               unchanged=True, metadata=meta)
                continue
            with ctx.item(data_url):
                result = ctx.fetch(data_url, conditional=False)
                xml = full_text_xml(result.content or b"", source=data_url)
                snapshot = ctx.fetcher.store.put(xml, "application/xml")  # the canonical artefact
                yield Document(source=self.source.name, key=rev_id, url=data_url,
                               kind=REVISION_KIND, fetched_at=ctx.now, snapshot=snapshot,
                               title=record.get("law_title"), metadata=meta)
                taken.add(rev_id)
        replaced, unexplained = unlisted(revisions, stored, taken)
        for rev_id, successors in replaced.items():
            yield Document(source=self.source.name, key=rev_id, url=url, kind=REVISION_KIND,
                           fetched_at=ctx.now, snapshot=None, metadata={
                               "gone": True, "law_id": law_id, "law_revision_id": rev_id,
                               "replaced_by": successors,
                               "reason": "listed again by e-Gov under a new revision ID"})
        for rev_id in unexplained:
            record = stored[rev_id].get("revision") or {}
            ctx.issue(f"revision {rev_id} ({record.get('amendment_law_num') or '?'}, enforcement "
                      f"{record.get('amendment_enforcement_date') or '?'}) is no longer in e-Gov's "
                      "revision list: withdrawn before taking effect, or a listing error? Its "
                      "changes stay in the history until e-Gov lists it again or in its place",
                      url=url, level="warning")


def unlisted(revisions: list[dict[str, Any]], stored: dict[str, dict], taken: set[str]
             ) -> tuple[dict[str, list[str]], list[str]]:
    """Stored revisions of a law missing from its current listing: ({replaced: [successors]},
    [unexplained]).

    e-Gov's revision IDs carry the enforcement date, so a stage whose enforcement moved can
    come back under a new ID. A missing revision is replaced when the listing has a revision
    of the same amending law that was not stored before and was taken in this run (`taken`:
    fetched and stored, so a failed fetch of the successor keeps the old one). Any other
    missing revision is only reported: a listing alone cannot tell a withdrawn amendment
    from an e-Gov error, and dropping it would lose its changes.
    """
    listed = {r["law_revision_id"] for r in revisions}
    new_by_amendment: dict[str, list[str]] = {}
    for r in revisions:
        rev_id = r["law_revision_id"]
        if rev_id not in stored and rev_id in taken and r.get("amendment_law_id"):
            new_by_amendment.setdefault(r["amendment_law_id"], []).append(rev_id)
    replaced: dict[str, list[str]] = {}
    unexplained: list[str] = []
    for rev_id in sorted(set(stored) - listed):
        amendment = (stored[rev_id].get("revision") or {}).get("amendment_law_id")
        if amendment and new_by_amendment.get(amendment):
            replaced[rev_id] = sorted(new_by_amendment[amendment])
        else:
            unexplained.append(rev_id)
    return replaced, unexplained


def parse_revision_list(body: bytes, *, source: str) -> list[dict[str, Any]]:
    """The revision records of a `/law_revisions` response, newest first as sent."""
    import json

    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ParseError(source, f"revision list is not JSON: {exc}") from None
    revisions = data.get("revisions") if isinstance(data, dict) else None
    if not isinstance(revisions, list):
        raise ParseError(source, "no `revisions` list in the response")
    out = []
    for r in revisions:
        if not isinstance(r, dict) or not isinstance(r.get("law_revision_id"), str):
            raise ParseError(source, "a revision without `law_revision_id`")
        out.append(r)
    return out


def full_text_xml(body: bytes, *, source: str) -> bytes:
    """The law XML from a `/law_data` response: raw XML, base64 XML, or a JSON node tree."""
    import json

    from regwatch.normalise.egov_law import law_json_to_xml

    stripped = body.lstrip()
    if stripped.startswith(b"<"):
        return body
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ParseError(source, f"law_data response is neither XML nor JSON: {exc}") from None
    text = data.get("law_full_text") if isinstance(data, dict) else None
    if isinstance(text, dict):
        return law_json_to_xml(text)
    if isinstance(text, str):
        if text.lstrip().startswith("<"):
            return text.encode("utf-8")
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ParseError(source, "law_full_text is not base64-encoded XML") from None
    raise ParseError(source, "no law_full_text in the law_data response")
