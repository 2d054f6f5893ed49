"""Asking a conditional endpoint whether a stored day changed, without downloading it.

A raw file of an endpoint that answers ``If-None-Match`` keeps each page's ETag in its footer
(``pages``: ``"<page>/<page size>" -> {"etag", ...}``, written by ``raw.assets.ingest_day``; files
written before that kept ``etags``: ``"<page>/<page size>" -> ETag``). Re-sending
those ETags costs one 304 per unchanged page; any other answer means the day changed. A page body
carries the listing's total, so an arrival that only adds a page still changes page 1's ETag.
"""

from __future__ import annotations

from dataclasses import dataclass

from calllog_pipeline.http import ApiClient
from calllog_pipeline.lake import Lake
from calllog_pipeline.providers.base import Endpoint, Paging, ProviderApi, Window


@dataclass(frozen=True)
class StoredPage:
    number: int
    size: int
    etag: str


def stored_pages(lake: Lake, provider: str, endpoint: Endpoint, day: str) -> list[StoredPage]:
    """The pages whose ETags the stored day's file kept; empty when there is no file or no ETag."""
    if not endpoint.conditional:
        return []
    try:
        footer = lake.file_metadata(lake.raw_path(provider, endpoint.name, day))
    except FileNotFoundError:  # never fetched: the schedule fetches it
        return []
    notes = footer.get("pages") if isinstance(footer.get("pages"), dict) else {}
    etags = {key: note["etag"] for key, note in notes.items() if isinstance(note, dict) and note.get("etag")}
    etags = etags or footer.get("etags") or {}
    pages = []
    for key, etag in etags.items():
        number, _, size = str(key).partition("/")
        pages.append(StoredPage(int(number), int(size or endpoint.page_size), etag))
    return sorted(pages, key=lambda p: p.number)


async def changed_etag(
    client: ApiClient, api: ProviderApi, endpoint: Endpoint, window: Window, pages: list[StoredPage]
) -> str | None:
    """The new ETag of the first page that is no longer what was stored, or None if every page
    answered 304 (the day is unchanged)."""
    for page in pages:
        params = {**api.default_params(), **endpoint.page_params(page.number, page.size)}
        if endpoint.paging is Paging.WINDOWED:  # the same request the fetch made (raw.fetch)
            params.update(endpoint.window_params(window))
        response = await client.get(
            endpoint.path, params, {"If-None-Match": page.etag}, parse=endpoint.read_page
        )
        if not response.not_modified:
            return response.headers.get("etag") or f"page {page.number} changed"
    return None
