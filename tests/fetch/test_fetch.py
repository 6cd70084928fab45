"""`ateda fetch` against a real nginx on loopback (scripts/nginx.sh) serving nightly
tarballs of real packets with MD5SUMS: clean fetch of a range with an empty night, a
connection cut mid-body resumed (only the remainder sent, counted on the server's log),
a file changed on the server, a wrong MD5, a server ignoring Range, a missing night and
`latest`. Each test has its own archive directory and `--to` directory."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from fetch_archive import (
    OPENER,
    Archive,
    cut_mid_body,
    md5_of,
    run_fetch,
    tarball_name,
)

NIGHTS = ["20231010", "20231011", "20231012", "20231013"]  # 20231011: empty


def publish(archive: Archive, packets: list[Path]) -> dict[str, bytes]:
    """Four consecutive nights, the second one empty."""
    chunks = [packets[0:4], [], packets[4:8], packets[8:12]]
    return {night: archive.put(night, chunk) for night, chunk in zip(NIGHTS, chunks, strict=True)}


def assert_verified(to: Path, night: str, data: bytes) -> None:
    """The night's tarball is in place with the archive's bytes, its MD5 recorded, and
    nothing of the download left beside it."""
    name = tarball_name(night)
    assert (to / name).read_bytes() == data, name
    assert md5_of(data) in (to / f"{name}.md5").read_text()
    for leftover in (".part", ".part.json", ".bad"):
        assert not (to / f"{name}{leftover}").exists(), f"{name}{leftover} left"


def test_server_serves_ranges_etags_and_logs_them(archive):
    """The fixture itself: Range answered with 206 at the archive URL and ignored under
    /norange/, an ETag on both, and the access log's byte counts."""
    data = archive.put("20231010", [])
    url = archive.url + tarball_name("20231010")
    req = urllib.request.Request(url, headers={"Range": "bytes=10-"})
    with OPENER.open(req, timeout=10) as resp:
        assert resp.status == 206
        assert resp.read() == data[10:]
        etag = resp.headers["ETag"]
    assert etag and not etag.startswith("W/")
    req = urllib.request.Request(
        archive.norange_url + tarball_name("20231010"), headers={"Range": "bytes=10-"}
    )
    with OPENER.open(req, timeout=10) as resp:
        assert resp.status == 200
        assert resp.read() == data
        assert resp.headers["ETag"] == etag
    with OPENER.open(archive.url + "MD5SUMS", timeout=10) as resp:
        assert resp.read().decode() == f"{md5_of(data)}  {tarball_name('20231010')}\n"
    got = [(r.status, r.body_bytes, r.range, r.etag) for r in archive.gets("20231010")]
    assert got == [(206, len(data) - 10, "bytes=10-", etag), (200, len(data), "bytes=10-", etag)]


def test_clean_fetch_of_a_range_with_an_empty_night_then_rerun_skips(archive, to, ztf_packets):
    nights = publish(archive, ztf_packets)
    assert len(nights["20231011"]) < 100, "the empty night is a few dozen bytes"

    run = run_fetch(archive.url, to, f"{NIGHTS[0]}..{NIGHTS[-1]}", "--parallel", "2")
    assert run.code == 0, run.output
    for night, data in nights.items():
        assert_verified(to, night, data)
        assert "MD5 ok" in run.line_of(night), run.output
        # one plain GET each, the whole file sent
        assert [(r.status, r.body_bytes, r.range) for r in archive.gets(night)] == [
            (200, len(data), "")
        ]
    assert sorted(p.name for p in to.iterdir()) == sorted(
        f"{tarball_name(n)}{ext}" for n in NIGHTS for ext in ("", ".md5")
    )

    # a re-run reads nothing of the tarballs again
    before = {night: len(archive.requests(night)) for night in NIGHTS}
    run = run_fetch(archive.url, to, f"{NIGHTS[0]}..{NIGHTS[-1]}")
    assert run.code == 0, run.output
    for night, data in nights.items():
        assert "already fetched and verified" in run.line_of(night), run.output
        assert len(archive.requests(night)) == before[night], archive.requests(night)
        assert_verified(to, night, data)

    # --force fetches again
    run = run_fetch(archive.url, to, NIGHTS[2], "--force")
    assert run.code == 0, run.output
    assert "MD5 ok" in run.line_of(NIGHTS[2]), run.output
    assert len(archive.gets(NIGHTS[2])) == 2
    assert_verified(to, NIGHTS[2], nights[NIGHTS[2]])


def test_connection_cut_mid_body_resumes_with_the_remainder_only(archive, to, ztf_packets):
    """The server drops the connection mid-body; the same run resumes with a Range
    request and the server sends only the bytes not yet on disk."""
    night = "20231012"
    data = archive.put(night, ztf_packets)  # ~2 MB, cut at a few hundred KB
    proc, kept = cut_mid_body(archive, night, archive.url, to, then_kill=False)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    assert "resumed at" in output and "MD5 ok" in output, output
    assert_verified(to, night, data)
    # the cut request never completed (its worker died); the resumed one is the remainder
    (resumed,) = archive.gets(night)
    assert (resumed.status, resumed.range, resumed.body_bytes) == (
        206,
        f"bytes={kept}-",
        len(data) - kept,
    ), (resumed, kept, len(data))
    assert resumed.if_range == resumed.etag


def test_killed_download_resumes_on_the_next_run(archive, to, ztf_packets):
    """`ateda fetch` killed after the connection dropped: `.part` and its validator stay,
    the next run resumes from them and the server sends only the remainder."""
    night = "20231012"
    data = archive.put(night, ztf_packets)
    _, kept = cut_mid_body(archive, night, archive.url, to, then_kill=True)
    assert (to / f"{tarball_name(night)}.part.json").exists()
    assert not (to / tarball_name(night)).exists()
    before = len(archive.gets(night))

    run = run_fetch(archive.url, to, night)
    assert run.code == 0, run.output
    assert "resumed at" in run.line_of(night), run.output
    assert_verified(to, night, data)
    (resumed,) = archive.gets(night)[before:]
    assert (resumed.status, resumed.range, resumed.body_bytes) == (
        206,
        f"bytes={kept}-",
        len(data) - kept,
    ), (resumed, kept, len(data))


def test_file_changed_on_the_server_between_tries_restarts(archive, to, ztf_packets):
    night = "20231012"
    first = archive.put(night, ztf_packets)
    _, kept = cut_mid_body(archive, night, archive.url, to, then_kill=True)
    old_etag = archive.etag(night)
    # the archive republishes the night (other bytes, new ETag) and its MD5SUMS line
    second = archive.put(night, ztf_packets[:-3])
    assert second != first
    before = len(archive.gets(night))

    run = run_fetch(archive.url, to, night)
    assert run.code == 0, run.output
    assert "MD5 ok" in run.line_of(night) and "resumed at" not in run.output, run.output
    assert_verified(to, night, second)
    gets = archive.gets(night)[before:]
    # the stale partial file was discarded: the last answer is the whole new file
    assert (gets[-1].status, gets[-1].body_bytes) == (200, len(second)), (gets, kept)
    assert gets[-1].etag == archive.etag(night) != old_etag


def test_wrong_md5_keeps_the_file_aside_and_a_rerun_downloads_again(archive, to, ztf_packets):
    good, bad = "20231010", "20231012"
    good_data = archive.put(good, ztf_packets[:4])
    bad_data = archive.put(bad, ztf_packets[4:8], md5=md5_of(b"not this file"))
    name = tarball_name(bad)

    run = run_fetch(archive.url, to, good, bad)
    assert run.code == 1, run.output
    assert "MD5 mismatch" in run.line_of(bad), run.output
    assert (to / f"{name}.bad").read_bytes() == bad_data
    assert not (to / name).exists() and not (to / f"{name}.md5").exists()
    # the other night is fetched and verified all the same
    assert "MD5 ok" in run.line_of(good), run.output
    assert_verified(to, good, good_data)

    # a re-run downloads it again (and still refuses it)
    run = run_fetch(archive.url, to, bad)
    assert run.code == 1, run.output
    assert "MD5 mismatch" in run.line_of(bad), run.output
    assert [(r.status, r.body_bytes) for r in archive.gets(bad)] == [(200, len(bad_data))] * 2
    assert not (to / name).exists()

    # with MD5SUMS corrected it is verified
    archive.listed[name] = md5_of(bad_data)
    archive.write_md5sums()
    run = run_fetch(archive.url, to, bad)
    assert run.code == 0, run.output
    assert "MD5 ok" in run.line_of(bad), run.output
    assert (to / name).read_bytes() == bad_data
    assert md5_of(bad_data) in (to / f"{name}.md5").read_text()


def test_server_without_range_restarts_cleanly_from_zero(archive, to, ztf_packets):
    night = "20231012"
    data = archive.put(night, ztf_packets)
    _, kept = cut_mid_body(archive, night, archive.norange_url, to, then_kill=True)
    before = len(archive.gets(night))

    run = run_fetch(archive.norange_url, to, night)
    assert run.code == 0, run.output
    assert "MD5 ok" in run.line_of(night) and "resumed at" not in run.output, run.output
    assert_verified(to, night, data)
    # asked to resume, got the whole file, kept only that
    (again,) = archive.gets(night)[before:]
    assert (again.status, again.range, again.body_bytes) == (200, f"bytes={kept}-", len(data))


def test_missing_night_is_reported_and_the_others_fetched(archive, to, ztf_packets):
    there = archive.put("20231010", ztf_packets[:4])
    archive.list_only("20231021", md5_of(b"listed, never published"))

    run = run_fetch(archive.url, to, "20231010", "20231020", "20231021")
    assert run.code == 1, run.output
    assert "not in the archive" in run.line_of("20231020"), run.output  # nowhere
    assert "not in the archive" in run.line_of("20231021"), run.output  # MD5SUMS only
    assert "MD5 ok" in run.line_of("20231010"), run.output
    assert_verified(to, "20231010", there)
    assert sorted(p.name for p in to.iterdir()) == [
        tarball_name("20231010"),
        tarball_name("20231010") + ".md5",
    ]


def test_latest_is_the_newest_night_in_md5sums(archive, to, ztf_packets):
    nights = publish(archive, ztf_packets)
    run = run_fetch(archive.url, to, "latest")
    assert run.code == 0, run.output
    assert "MD5 ok" in run.line_of(NIGHTS[-1]), run.output
    assert_verified(to, NIGHTS[-1], nights[NIGHTS[-1]])
    assert sorted(p.name for p in to.iterdir()) == [
        tarball_name(NIGHTS[-1]),
        tarball_name(NIGHTS[-1]) + ".md5",
    ]
    for night in NIGHTS[:-1]:
        assert archive.gets(night) == [], night
