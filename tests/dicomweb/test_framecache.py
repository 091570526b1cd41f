"""The file-backed frame cache: atomic writes, directories made only when first needed."""

from dicomweb.framecache import FileFrameCache


def test_set_and_get_create_directories_on_first_use_and_leave_no_temporary_files(tmp_path):
    cache = FileFrameCache(tmp_path / "render-cache")  # does not exist yet
    first, same_shard, other_shard = "ab" + "1" * 38, "ab" + "2" * 38, "cd" + "3" * 38
    assert cache.get(first) is None
    cache.set(first, b"one")
    cache.set(same_shard, b"two")
    cache.set(other_shard, b"three")
    cache.set(first, b"one again")  # replaced whole
    assert cache.get(first) == b"one again"
    assert cache.get(same_shard) == b"two" and cache.get(other_shard) == b"three"
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == [
        f"render-cache/ab/{first}",
        f"render-cache/ab/{same_shard}",
        f"render-cache/cd/{other_shard}",
    ]


def test_prune_removes_the_oldest_entries_down_below_the_bound(tmp_path):
    import os

    from dicomweb.framecache import FileFrameCache

    cache = FileFrameCache(tmp_path / "render-cache")
    keys = [f"{n:02x}" + "a" * 38 for n in range(10)]
    for n, key in enumerate(keys):  # keys[0] written first, keys[9] last
        cache.set(key, b"x" * 1000)
        os.utime(cache._path(key), (1_000_000 + n, 1_000_000 + n))
    stale = cache._path(keys[0]).parent / ".tmp-left-by-a-dead-writer"
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))

    report = cache.prune(max_bytes=5000)

    assert (report.files, report.bytes) == (10, 10_000)
    assert report.removed_files == 6  # down to 4000 bytes, 90% of the bound or less
    assert [key for key in keys if cache.get(key) is not None] == keys[6:]
    assert not stale.exists()


def test_prune_leaves_a_cache_within_its_bound_alone(tmp_path):
    from dicomweb.framecache import FileFrameCache

    cache = FileFrameCache(tmp_path / "render-cache")
    cache.set("ab" + "c" * 38, b"x" * 100)
    report = cache.prune(max_bytes=1000)
    assert report.removed_files == 0 and cache.get("ab" + "c" * 38) == b"x" * 100


def test_the_beat_task_prunes_to_the_configured_bound(settings, tmp_path):
    from dicomweb.framecache import FileFrameCache
    from dicomweb.tasks import prune_frame_cache

    settings.FRAME_CACHE_DIR = str(tmp_path / "render-cache")
    settings.FRAME_CACHE_MAX_BYTES = 2500
    cache = FileFrameCache(tmp_path / "render-cache")
    for n in range(5):
        cache.set(f"{n:02x}" + "d" * 38, b"x" * 1000)
    assert prune_frame_cache() == {"files": 5, "removed_files": 3}
