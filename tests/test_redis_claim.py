"""Two test sessions on one Redis server never share a database (the ``redis_url`` fixture's claim)."""

from __future__ import annotations

import uuid

from .conftest import REDIS_CLAIM_KEY, REDIS_URL, claim_redis, redis_candidates, release_redis


def test_candidates_start_with_the_named_database_and_never_use_0():
    assert redis_candidates("redis://127.0.0.1:6379/15")[:2] == ["redis://127.0.0.1:6379/15",
                                                               "redis://127.0.0.1:6379/14"]
    named = redis_candidates("redis://:pw@cache:6380/3?health_check_interval=5")
    assert named[:2] == ["redis://:pw@cache:6380/3?health_check_interval=5",
                         "redis://:pw@cache:6380/15?health_check_interval=5"]
    assert len(named) == 15
    assert not any(u.endswith(("/0", "/0?health_check_interval=5")) for u in named)
    assert redis_candidates("unix:///run/redis.sock?db=2") == ["unix:///run/redis.sock?db=2"]


def test_concurrent_sessions_claim_different_databases_and_release_them(redis_url):
    import redis

    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    a = claim_redis(REDIS_URL, first)
    b = claim_redis(REDIS_URL, second)
    try:
        assert a
        assert b
        assert len({a, b, redis_url}) == 3
        client = redis.Redis.from_url(b)
        client.set("left-over", "x")
        release_redis(b, first)  # not the claimant: nothing happens
        assert client.get(REDIS_CLAIM_KEY) == second.encode()
        assert client.get("left-over") == b"x"
        release_redis(b, second)
        assert client.dbsize() == 0
        again = claim_redis(REDIS_URL, second)
        assert again == b  # free again: the first free candidate is taken
        client.close()
    finally:
        release_redis(a, first)
        release_redis(b, second)


def test_a_database_the_server_does_not_have_is_passed_over(redis_url):
    from urllib.parse import urlsplit

    token = uuid.uuid4().hex
    missing = urlsplit(REDIS_URL)._replace(path="/9999").geturl()  # beyond any server's `databases` setting
    url = claim_redis(missing, token)
    try:
        assert url is not None
        assert not url.split("?")[0].endswith("/9999")
        assert url != redis_url
    finally:
        if url:
            release_redis(url, token)
