"""daemon/memory.py: the daemon asks glibc for transparent huge pages (by starting over with the
tunable), keeps the operator's own choice, and says what it runs with."""

import os

import pytest

from findface_extraction_api.daemon import memory
from findface_extraction_api.testing import Daemon


def thp_file(tmp_path, mode: str) -> str:
    path = tmp_path / "enabled"
    path.write_text(mode + "\n")
    return str(path)


def tunables_of(daemon: Daemon) -> str | None:
    """GLIBC_TUNABLES in the environment the daemon's process runs with (after any start-over)."""
    environ = open(f"/proc/{daemon.process.pid}/environ", "rb").read().decode().split("\0")
    return next((v.split("=", 1)[1] for v in environ if v.startswith("GLIBC_TUNABLES=")), None)


def glibc_with_tunable() -> bool:
    try:
        name, version = os.confstr("CS_GNU_LIBC_VERSION").split()  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # not glibc
        return False
    return name == "glibc" and tuple(int(v) for v in version.split(".")[:2]) >= (2, 35)


@pytest.mark.unit
@pytest.mark.skipif(not glibc_with_tunable(), reason="needs glibc 2.35 or later")
def test_the_tunable_is_added_to_what_the_environment_has(tmp_path) -> None:
    enabled = thp_file(tmp_path, "always [madvise] never")
    assert memory.hugepage_environment({"A": "1"}, enabled) == {"A": "1", "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}
    extended = memory.hugepage_environment({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}, enabled)
    assert extended == {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}
    assert memory.hugepage_environment({}, thp_file(tmp_path, "[always] madvise never")) is not None


@pytest.mark.unit
def test_no_start_over_where_it_would_change_nothing(tmp_path) -> None:
    enabled = thp_file(tmp_path, "always [madvise] never")
    choices = ("glibc.malloc.hugetlb=0", "glibc.malloc.hugetlb=1", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0")
    for choice in choices:
        assert memory.hugepage_environment({"GLIBC_TUNABLES": choice}, enabled) is None  # the operator's choice
    assert memory.hugepage_environment({}, thp_file(tmp_path, "always madvise [never]")) is None  # off in the kernel
    assert memory.hugepage_environment({}, str(tmp_path / "missing")) is None  # no THP at all


def test_the_daemon_runs_with_huge_pages_unless_told_otherwise(daemons, tmp_path) -> None:
    main = daemons("main")
    started_over = memory.hugepage_environment(os.environ)  # None: glibc < 2.35, THP off, or set by the caller
    tunables = (started_over or os.environ).get("GLIBC_TUNABLES")
    assert tunables_of(main) == tunables
    wanted = (
        "transparent huge pages for large buffers" if "glibc.malloc.hugetlb=1" in (tunables or "") else "huge pages"
    )
    assert f"memory allocator: 2 arenas, mmap threshold 1024 KiB, trim when idle, {wanted}" in main.output()

    declined = Daemon(tmp_path, env={"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})
    try:
        assert declined.client.request("GET", "/ready")[0] == 200
        assert "glibc.malloc.hugetlb=0 from GLIBC_TUNABLES" in declined.output()
        assert tunables_of(declined) == "glibc.malloc.hugetlb=0"
    finally:
        declined.stop()
