"""Page blobs through the SDK: create, Put Page update/clear, ranged reads, Get Page Ranges
(plain and diff against a snapshot), snapshots, delete with snapshots, resize, sequence
numbers, HTTP headers."""

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobType, ContentSettings, SequenceNumberAction

from interop_util import KiB, MiB, SNAPSHOT_ID_RE, assert_bytes_equal, merge_ranges, pattern, random_bytes

ZERO = b"\x00"


def ranges(result):
    """get_page_ranges() -> ([(s, e)...] written, [(s, e)...] cleared), each coalesced."""
    written, cleared = result
    return merge_ranges(written), merge_ranges(cleared)


def new_page_blob(container, name, size, **kw):
    bc = container.get_blob_client(name)
    bc.create_page_blob(size, **kw)
    return bc


def test_create_page_blob_reads_zeros(container):
    bc = new_page_blob(container, "disk.vhd", 64 * KiB)
    props = bc.get_blob_properties()
    assert props.blob_type == BlobType.PAGEBLOB
    assert props.size == 64 * KiB
    assert props.page_blob_sequence_number == 0
    assert bc.download_blob().readall() == ZERO * (64 * KiB)
    assert bc.get_page_ranges() == ([], [])
    assert list(bc.list_page_ranges()) == []


def test_upload_page_and_ranged_reads(container):
    size = 64 * KiB
    bc = new_page_blob(container, "pages", size)
    a = pattern(1024, seed=1)
    b = pattern(4096, seed=2)
    bc.upload_page(a, offset=1024, length=1024)
    bc.upload_page(b, offset=32 * KiB, length=4096)

    expected = bytearray(size)
    expected[1024:2048] = a
    expected[32 * KiB:32 * KiB + 4096] = b
    assert_bytes_equal(bc.download_blob().readall(), expected)
    assert bc.get_blob_properties().size == size  # writing does not change the size

    # ranged reads: inside a page, across written/unwritten boundaries, wholly unwritten
    for off, length in [(1024, 1024), (1000, 100), (2040, 20), (0, 1024), (5000, 10000),
                        (32 * KiB - 1, 4098), (size - 512, 512)]:
        assert_bytes_equal(bc.download_blob(offset=off, length=length).readall(),
                           expected[off:off + length], f"range {off}+{length}")

    assert ranges(bc.get_page_ranges()) == ([(1024, 2047), (32 * KiB, 32 * KiB + 4095)], [])
    assert merge_ranges(bc.list_page_ranges()) == [(1024, 2047), (32 * KiB, 32 * KiB + 4095)]
    assert all(not r.cleared for r in bc.list_page_ranges())


def test_get_page_ranges_with_a_range(container):
    bc = new_page_blob(container, "ranges-window", 64 * KiB)
    for off in (0, 8 * KiB, 20 * KiB, 40 * KiB):
        bc.upload_page(pattern(512, off), offset=off, length=512)
    assert ranges(bc.get_page_ranges(offset=4 * KiB, length=32 * KiB)) == (
        [(8 * KiB, 8 * KiB + 511), (20 * KiB, 20 * KiB + 511)], [])
    assert merge_ranges(bc.list_page_ranges(offset=16 * KiB, length=48 * KiB)) == [
        (20 * KiB, 20 * KiB + 511), (40 * KiB, 40 * KiB + 511)]


def test_overwrite_part_of_a_page_run(container):
    bc = new_page_blob(container, "overwrite", 16 * KiB)
    base = pattern(8 * KiB, seed=3)
    bc.upload_page(base, offset=0, length=8 * KiB)
    patch = pattern(1024, seed=4)
    bc.upload_page(patch, offset=2048, length=1024)
    expected = bytearray(16 * KiB)
    expected[:8 * KiB] = base
    expected[2048:3072] = patch
    assert_bytes_equal(bc.download_blob().readall(), expected)
    assert ranges(bc.get_page_ranges()) == ([(0, 8 * KiB - 1)], [])


def test_clear_page(container):
    bc = new_page_blob(container, "clear", 16 * KiB)
    data = pattern(4096, seed=5)
    bc.upload_page(data, offset=0, length=4096)
    bc.clear_page(offset=1024, length=1024)
    expected = bytearray(16 * KiB)
    expected[:4096] = data
    expected[1024:2048] = bytes(1024)
    assert_bytes_equal(bc.download_blob().readall(), expected)
    assert ranges(bc.get_page_ranges()) == ([(0, 1023), (2048, 4095)], [])
    # clearing never-written pages is allowed and changes nothing
    bc.clear_page(offset=8 * KiB, length=8 * KiB)
    assert ranges(bc.get_page_ranges()) == ([(0, 1023), (2048, 4095)], [])
    assert_bytes_equal(bc.download_blob().readall(), expected)


def test_sparse_blob_unwritten_pages_read_as_zeros(container):
    size = 4 * MiB
    bc = new_page_blob(container, "sparse", size)
    page = pattern(512, seed=6)
    bc.upload_page(page, offset=2 * MiB, length=512)
    assert bc.download_blob(offset=0, length=512).readall() == bytes(512)
    assert bc.download_blob(offset=2 * MiB - 512, length=512).readall() == bytes(512)
    assert bc.download_blob(offset=2 * MiB, length=512).readall() == page
    assert bc.download_blob(offset=size - 512, length=512).readall() == bytes(512)
    whole = bc.download_blob().readall()
    assert len(whole) == size
    assert whole.count(ZERO) == size - 512 + page.count(ZERO)


def test_upload_blob_as_page_blob_skips_zero_chunks(container):
    # The SDK uploads a page blob in 4 MiB Put Page calls and skips chunks that are all zero.
    data = random_bytes(4 * MiB) + bytes(4 * MiB) + random_bytes(4 * MiB)
    bc = container.get_blob_client("uploaded.vhd")
    bc.upload_blob(data, blob_type=BlobType.PAGEBLOB, max_concurrency=2)
    props = bc.get_blob_properties()
    assert props.blob_type == BlobType.PAGEBLOB
    assert props.size == len(data)
    assert_bytes_equal(bc.download_blob(max_concurrency=2).readall(), data)
    assert ranges(bc.get_page_ranges()) == ([(0, 4 * MiB - 1), (8 * MiB, 12 * MiB - 1)], [])


def test_snapshot_reads_old_content(container, service):
    bc = new_page_blob(container, "snap", 8 * KiB)
    v1 = pattern(2048, seed=7)
    bc.upload_page(v1, offset=0, length=2048)
    snap = bc.create_snapshot()
    sid = snap["snapshot"]
    assert SNAPSHOT_ID_RE.match(sid), sid
    assert snap["etag"] and snap["last_modified"]

    v2 = pattern(1024, seed=8)
    bc.upload_page(v2, offset=1024, length=1024)
    bc.upload_page(v2, offset=4096, length=1024)

    snap_client = container.get_blob_client("snap", snapshot=sid)
    old = bytearray(8 * KiB)
    old[:2048] = v1
    new = bytearray(old)
    new[1024:2048] = v2
    new[4096:5120] = v2
    assert_bytes_equal(snap_client.download_blob().readall(), old, "snapshot")
    assert_bytes_equal(snap_client.download_blob(offset=1000, length=100).readall(), old[1000:1100], "snapshot range")
    assert_bytes_equal(bc.download_blob().readall(), new, "base")
    sprops = snap_client.get_blob_properties()
    assert sprops.size == 8 * KiB and sprops.blob_type == BlobType.PAGEBLOB
    assert sprops.snapshot == sid
    assert ranges(snap_client.get_page_ranges()) == ([(0, 2047)], [])
    assert ranges(bc.get_page_ranges()) == ([(0, 2047), (4096, 5119)], [])

    # the same snapshot through a BlobServiceClient path and through a URL carrying ?snapshot=
    assert_bytes_equal(service.get_blob_client(container.container_name, "snap", snapshot=sid)
                       .download_blob().readall(), old)


def test_snapshot_ids_are_distinct_and_increasing(container):
    bc = new_page_blob(container, "snapids", 4 * KiB)
    ids = []
    for i in range(5):
        bc.upload_page(pattern(512, seed=i), offset=0, length=512)
        ids.append(bc.create_snapshot()["snapshot"])
    assert all(SNAPSHOT_ID_RE.match(s) for s in ids), ids
    assert ids == sorted(ids) and len(set(ids)) == 5, ids
    for i, sid in enumerate(ids):
        got = container.get_blob_client("snapids", snapshot=sid).download_blob(offset=0, length=512).readall()
        assert got == pattern(512, seed=i), f"snapshot {i} ({sid}) has the wrong content"


def test_snapshot_metadata(container):
    bc = new_page_blob(container, "snapmeta", 4 * KiB, metadata={"gen": "1"})
    s_inherit = bc.create_snapshot()["snapshot"]
    s_own = bc.create_snapshot(metadata={"gen": "snap"})["snapshot"]
    assert container.get_blob_client("snapmeta", snapshot=s_inherit).get_blob_properties().metadata == {"gen": "1"}
    assert container.get_blob_client("snapmeta", snapshot=s_own).get_blob_properties().metadata == {"gen": "snap"}
    assert bc.get_blob_properties().metadata == {"gen": "1"}


def test_missing_snapshot_is_blob_not_found(container):
    bc = new_page_blob(container, "nosnap", 4 * KiB)
    bc.create_snapshot()
    ghost = container.get_blob_client("nosnap", snapshot="2001-01-01T00:00:00.0000000Z")
    with pytest.raises(ResourceNotFoundError) as ei:
        ghost.get_blob_properties()
    assert ei.value.status_code == 404
    with pytest.raises(ResourceNotFoundError) as ei:
        ghost.download_blob()
    assert ei.value.error_code == "BlobNotFound"


@pytest.mark.azurite_lacks("Get Page Ranges diff (prevsnapshot) returns the full list without ClearRange")
def test_diff_against_snapshot_reports_writes_and_clears(container):
    # the example from the spec (Azurite issue #298)
    bc = new_page_blob(container, "diff", 8 * KiB)
    bc.upload_page(pattern(1024, seed=9), offset=0, length=1024)
    snap = bc.create_snapshot()["snapshot"]
    bc.upload_page(pattern(512, seed=10), offset=0, length=512)
    bc.clear_page(offset=512, length=512)

    assert bc.get_page_ranges(previous_snapshot_diff=snap) == (
        [{"start": 0, "end": 511}], [{"start": 512, "end": 1023}])
    listed = [(r.start, r.end, r.cleared) for r in bc.list_page_ranges(previous_snapshot=snap)]
    assert listed == [(0, 511, False), (512, 1023, True)]
    # the plain list is unaffected
    assert ranges(bc.get_page_ranges()) == ([(0, 511)], [])


@pytest.mark.azurite_lacks("Get Page Ranges diff (prevsnapshot) returns the full list without ClearRange")
def test_diff_lists_only_the_changed_pages(container):
    size = 8 * MiB
    bc = new_page_blob(container, "manyplaces", size)
    stride = 256 * KiB
    for i in range(32):
        bc.upload_page(pattern(4096, seed=100 + i), offset=i * stride, length=4096)
    full = [(i * stride, i * stride + 4095) for i in range(32)]
    assert ranges(bc.get_page_ranges()) == (full, [])

    snap = bc.create_snapshot()["snapshot"]
    assert bc.get_page_ranges(previous_snapshot_diff=snap) == ([], [])  # nothing changed yet

    for i in (3, 17, 30):
        bc.upload_page(pattern(4096, seed=900 + i), offset=i * stride, length=4096)
    bc.upload_page(pattern(512, seed=999), offset=12 * stride + 1024, length=512)  # part of a page run
    bc.clear_page(offset=9 * stride, length=4096)

    written, cleared = ranges(bc.get_page_ranges(previous_snapshot_diff=snap))
    assert written == [(3 * stride, 3 * stride + 4095), (12 * stride + 1024, 12 * stride + 1535),
                       (17 * stride, 17 * stride + 4095), (30 * stride, 30 * stride + 4095)]
    assert cleared == [(9 * stride, 9 * stride + 4095)]
    # and the data agrees with the diff
    assert bc.download_blob(offset=9 * stride, length=4096).readall() == bytes(4096)
    assert bc.download_blob(offset=17 * stride, length=4096).readall() == pattern(4096, seed=917)
    snap_client = container.get_blob_client("manyplaces", snapshot=snap)
    assert snap_client.download_blob(offset=17 * stride, length=4096).readall() == pattern(4096, seed=117)
    assert snap_client.download_blob(offset=9 * stride, length=4096).readall() == pattern(4096, seed=109)


@pytest.mark.azurite_lacks("Get Page Ranges diff (prevsnapshot) returns the full list without ClearRange")
def test_diff_between_two_snapshots(container):
    bc = new_page_blob(container, "twosnaps", 64 * KiB)
    bc.upload_page(pattern(8192, seed=11), offset=0, length=8192)
    s1 = bc.create_snapshot()["snapshot"]
    bc.upload_page(pattern(512, seed=12), offset=16 * KiB, length=512)
    bc.clear_page(offset=0, length=1024)
    s2 = bc.create_snapshot()["snapshot"]
    bc.upload_page(pattern(512, seed=13), offset=32 * KiB, length=512)

    snap2 = container.get_blob_client("twosnaps", snapshot=s2)
    assert ranges(snap2.get_page_ranges(previous_snapshot_diff=s1)) == ([(16 * KiB, 16 * KiB + 511)], [(0, 1023)])
    assert ranges(bc.get_page_ranges(previous_snapshot_diff=s2)) == ([(32 * KiB, 32 * KiB + 511)], [])
    assert ranges(bc.get_page_ranges(previous_snapshot_diff=s1)) == (
        [(16 * KiB, 16 * KiB + 511), (32 * KiB, 32 * KiB + 511)], [(0, 1023)])


@pytest.mark.azurite_lacks("Get Page Ranges diff (prevsnapshot) is not implemented")
def test_diff_errors(container):
    bc = new_page_blob(container, "differr", 4 * KiB)
    s1 = bc.create_snapshot()["snapshot"]
    s2 = bc.create_snapshot()["snapshot"]
    older = container.get_blob_client("differr", snapshot=s1)
    with pytest.raises(HttpResponseError) as ei:
        older.get_page_ranges(previous_snapshot_diff=s2)
    assert ei.value.error_code == "PreviousSnapshotCannotBeNewer"
    with pytest.raises(HttpResponseError) as ei:
        bc.get_page_ranges(previous_snapshot_diff="2001-01-01T00:00:00.0000000Z")
    assert ei.value.error_code == "PreviousSnapshotNotFound"


def test_delete_blob_with_snapshots(container):
    bc = new_page_blob(container, "withsnaps", 4 * KiB)
    bc.upload_page(pattern(512, seed=14), offset=0, length=512)
    s1 = bc.create_snapshot()["snapshot"]
    s2 = bc.create_snapshot()["snapshot"]

    with pytest.raises(HttpResponseError) as ei:
        bc.delete_blob()
    assert ei.value.status_code == 409
    assert ei.value.error_code == "SnapshotsPresent"
    assert bc.exists()

    # delete one snapshot through its own client
    container.get_blob_client("withsnaps", snapshot=s1).delete_blob()
    assert not container.get_blob_client("withsnaps", snapshot=s1).exists()
    assert container.get_blob_client("withsnaps", snapshot=s2).exists()

    # only: snapshots go, the base stays
    bc.delete_blob(delete_snapshots="only")
    assert bc.exists()
    assert not container.get_blob_client("withsnaps", snapshot=s2).exists()
    assert [(b.name, b.snapshot) for b in container.list_blobs(include=["snapshots"])] == [("withsnaps", None)]
    bc.delete_blob()  # no snapshots left: plain delete works
    assert not bc.exists()

    # include: base and snapshots go together
    bc2 = new_page_blob(container, "withsnaps2", 4 * KiB)
    s3 = bc2.create_snapshot()["snapshot"]
    bc2.delete_blob(delete_snapshots="include")
    assert not bc2.exists()
    assert not container.get_blob_client("withsnaps2", snapshot=s3).exists()
    assert list(container.list_blobs(include=["snapshots"])) == []


def test_recreate_page_blob_keeps_snapshots(container):
    bc = new_page_blob(container, "recreate", 4 * KiB)
    bc.upload_page(pattern(512, seed=15), offset=0, length=512)
    sid = bc.create_snapshot()["snapshot"]
    bc.create_page_blob(8 * KiB)  # Put Blob over an existing blob replaces it
    assert bc.get_blob_properties().size == 8 * KiB
    assert bc.download_blob().readall() == bytes(8 * KiB)
    assert bc.get_page_ranges() == ([], [])
    snap = container.get_blob_client("recreate", snapshot=sid)
    assert snap.download_blob(offset=0, length=512).readall() == pattern(512, seed=15)


def test_resize_blob(container):
    bc = new_page_blob(container, "resize", 4 * KiB)
    data = pattern(4 * KiB, seed=16)
    bc.upload_page(data, offset=0, length=4 * KiB)

    bc.resize_blob(16 * KiB)
    assert bc.get_blob_properties().size == 16 * KiB
    assert_bytes_equal(bc.download_blob().readall(), data + bytes(12 * KiB), "grown")
    assert ranges(bc.get_page_ranges()) == ([(0, 4 * KiB - 1)], [])

    bc.resize_blob(1024)
    assert bc.get_blob_properties().size == 1024
    assert_bytes_equal(bc.download_blob().readall(), data[:1024], "shrunk")
    assert ranges(bc.get_page_ranges()) == ([(0, 1023)], [])

    # growing again does not resurrect the cut-off data
    bc.resize_blob(4 * KiB)
    assert_bytes_equal(bc.download_blob().readall(), data[:1024] + bytes(3 * KiB), "regrown")


@pytest.mark.azurite_lacks("answers 400 InvalidOperation instead of InvalidHeaderValue")
def test_resize_to_unaligned_size_is_rejected(container):
    bc = new_page_blob(container, "resize-bad", 4 * KiB)
    with pytest.raises(HttpResponseError) as ei:
        bc.resize_blob(1000)
    assert ei.value.status_code == 400
    assert ei.value.error_code == "InvalidHeaderValue"
    assert ei.value.additional_info.get("headername") == "x-ms-blob-content-length"
    assert bc.get_blob_properties().size == 4 * KiB


@pytest.mark.azurite_lacks("answers 400 InvalidOperation instead of InvalidHeaderValue")
def test_create_page_blob_unaligned_size_is_rejected(container):
    bc = container.get_blob_client("unaligned")
    with pytest.raises(HttpResponseError) as ei:
        bc.create_page_blob(1000)
    assert ei.value.status_code == 400
    assert ei.value.error_code == "InvalidHeaderValue"
    assert ei.value.additional_info.get("headername") == "x-ms-blob-content-length"
    assert not bc.exists()


def test_sequence_number(container):
    bc = new_page_blob(container, "seq", 4 * KiB, sequence_number=5)
    assert bc.get_blob_properties().page_blob_sequence_number == 5
    assert bc.set_sequence_number(SequenceNumberAction.Update, 7)["blob_sequence_number"] == 7
    assert bc.set_sequence_number(SequenceNumberAction.Max, 3)["blob_sequence_number"] == 7
    assert bc.set_sequence_number(SequenceNumberAction.Max, 10)["blob_sequence_number"] == 10
    assert bc.set_sequence_number(SequenceNumberAction.Increment)["blob_sequence_number"] == 11
    assert bc.get_blob_properties().page_blob_sequence_number == 11

    # conditional Put Page on the sequence number
    with pytest.raises(HttpResponseError) as ei:
        bc.upload_page(pattern(512), offset=0, length=512, if_sequence_number_lt=11)
    assert ei.value.status_code == 412
    assert ei.value.error_code == "SequenceNumberConditionNotMet"
    assert bc.get_page_ranges() == ([], [])
    bc.upload_page(pattern(512), offset=0, length=512, if_sequence_number_eq=11)
    assert ranges(bc.get_page_ranges()) == ([(0, 511)], [])


def test_set_http_headers_on_page_blob(container):
    bc = new_page_blob(container, "headers.vhd", 4 * KiB, metadata={"disk": "os"})
    bc.upload_page(pattern(512, seed=17), offset=512, length=512)
    before = bc.get_blob_properties()
    r = bc.set_http_headers(ContentSettings(content_type="application/x-vhd", cache_control="max-age=60",
                                            content_language="de", content_disposition="attachment; filename=d.vhd"))
    assert r["etag"] != before.etag
    props = bc.get_blob_properties()
    cs = props.content_settings
    assert (cs.content_type, cs.cache_control, cs.content_language, cs.content_disposition) == (
        "application/x-vhd", "max-age=60", "de", "attachment; filename=d.vhd")
    assert props.size == 4 * KiB
    assert props.blob_type == BlobType.PAGEBLOB
    assert props.metadata == {"disk": "os"}
    assert props.page_blob_sequence_number == before.page_blob_sequence_number
    assert bc.download_blob(offset=512, length=512).readall() == pattern(512, seed=17)


@pytest.mark.azurite_lacks("no continuation (marker/maxresults) for Get Page Ranges")
def test_list_page_ranges_paging(container):
    bc = new_page_blob(container, "paged-ranges", 64 * KiB)
    starts = [0, 8 * KiB, 16 * KiB, 24 * KiB, 40 * KiB]
    for s in starts:
        bc.upload_page(pattern(512, seed=s), offset=s, length=512)
    pages = [[(r.start, r.end) for r in p] for p in bc.list_page_ranges(results_per_page=2).by_page()]
    assert [r for p in pages for r in p] == [(s, s + 511) for s in starts]
    assert len(pages) == 3 and all(1 <= len(p) <= 2 for p in pages), pages
