"""The file-backed frame cache: atomic writes, directories made only when first needed."""

from studies.framecache import FileFrameCache


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
