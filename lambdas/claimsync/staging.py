"""The S3 staging area of a run, and how claims are spread over pages.

Pages are **hash buckets of the claim id**: page ``q`` of ``P`` holds every row whose trimmed
ClaimID hashes to ``q`` (``P`` a power of two). Two things follow:
- every occurrence of one claim id lands in the same page, so "the last row wins" is decided inside
  a page although the Map processes pages independently;
- the snapshot of what landed in Salesforce is sharded the same way, so a page reads only the one
  or few shards that can hold its claims, never the whole snapshot. When the number of pages
  changes between runs, shard ``q`` of the new layout is the union of the old shards ``p`` with
  ``p % P == q`` (fewer pages), or lies inside old shard ``q % P_old`` (more pages).
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MISSING_KEY_PAGE = 0  # rows without a ClaimID are rejected; they are staged in page 0


def claim_bucket(claim_key: str, page_count: int) -> int:
    digest = hashlib.blake2b(claim_key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (page_count - 1)


def page_count_for(rows: int, page_size: int, max_pages: int) -> int:
    wanted = max(1, -(-rows // page_size))
    count = 1
    while count < wanted and count < max_pages:
        count *= 2
    return count


def previous_shards(page: int, page_count: int, previous_count: int) -> list[int]:
    """The shards of a snapshot written with ``previous_count`` pages that can hold page ``page``."""
    if previous_count >= page_count:
        return list(range(page, previous_count, page_count))
    return [page % previous_count]


class Staging:
    """JSON and bytes in the staging bucket. Every object is written with the bucket's default
    encryption (SSE-KMS with the customer key in the deployed stack)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def put_bytes(self, key: str, body: bytes, content_type: str = "application/octet-stream") -> None:
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def put_file(self, key: str, body: IO[bytes], content_type: str = "application/octet-stream") -> None:
        """``body`` (a file at its start) streamed to the object, never whole in memory."""
        self._s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    def copy(self, source: str, target: str) -> None:
        """A server-side copy within the bucket: the object never passes through the function."""
        self._s3.copy_object(
            Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
        )

    def get_bytes(self, key: str) -> bytes:
        body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def download_to(self, key: str, sink: IO[bytes]) -> int:
        """The object written to ``sink`` chunk by chunk (never whole in memory); returns its size."""
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        size = 0
        while chunk := body.read(1 << 20):
            sink.write(chunk)
            size += len(chunk)
        return size

    def put_json(self, key: str, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        self.put_bytes(key, body, "application/json")

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def get_json_optional(self, key: str) -> Any:
        """The object's JSON, or None when there is no such key."""
        try:
            return self.get_json(key)
        except self._s3.exceptions.NoSuchKey:
            return None

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


IN_FLIGHT = 8  # S3 requests of one step in flight at once


def each_overlapped(work: Callable[[T], R], items: Iterable[T], in_flight: int = IN_FLIGHT) -> Iterator[R]:
    """``work(item)`` for each item, in order, with up to ``in_flight`` running at once on threads.

    A step's S3 round trips are mostly waiting (tens of ms each in AWS): a step that reads or writes
    one object per page overlaps them. At most ``in_flight`` results are held, so memory stays that
    of a few pages whatever the page count. The S3 client is thread-safe; ``work`` must be too.
    """
    with ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(work, item))
                if len(pending) >= in_flight:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
