"""The plan's API paths through nginx: right JSON, 400 for a bad hour, 404 for an unknown device or missing
manifest, and no request reaches outside the stream tree."""

import json
import shlex

import pytest


def get(host, path):
    """(status, body) of a GET through the host's nginx; --path-as-is keeps '..' as the attacker sent it."""
    result = host.run(
        f"curl -s --path-as-is -o /tmp/body -w '%{{http_code}}' {shlex.quote('http://127.0.0.1' + path)};"
        " echo; cat -v /tmp/body"
    )
    status, _, body = result.stdout.partition("\n")
    return int(status), body


@pytest.fixture(scope="module")
def hour(capture_host):
    return int(capture_host.check_output("date +%-H"))


def test_thumbnails_api_lists_the_archived_thumbnails(capture_host, devices, hour):
    for device in devices:
        status, body = get(capture_host, f"/api/host/thumbnails/{device}/{hour}")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["hour"] == hour
        assert answer["count"] == len(answer["thumbnails"]) > 0
        # Every listed URL is served and is a thumbnail archived in that hour.
        for url in answer["thumbnails"][-3:]:
            assert f"/{device}/thumbnails/{hour}/capture_" in url
            assert get(capture_host, url)[0] == 200, url


def test_segments_api_points_at_a_playable_hour_manifest(capture_host, devices, hour):
    for device in devices:
        status, body = get(capture_host, f"/api/host/segments/{device}/{hour}")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["hour"] == hour
        status, manifest = get(capture_host, answer["manifest_url"])
        assert status == 200
        assert manifest.startswith("#EXTM3U") and "#EXTINF:" in manifest


def test_archived_hour_playlist_decodes_with_ffmpeg(capture_host, devices, hour):
    url = f"http://127.0.0.1/host/stream/{devices[0]}/segments/{hour}/archive.m3u8"
    # The current hour's playlist is still growing (no ENDLIST yet): read it from its first segment.
    result = capture_host.run(f"ffmpeg -v error -live_start_index 0 -i {url} -t 8 -f null -")
    assert result.rc == 0, result.stderr


def test_empty_hour_answers_an_empty_list_and_missing_manifest_404(capture_host, devices, hour):
    empty = (hour + 12) % 24  # nothing was recorded twelve hours away in a fresh container
    status, body = get(capture_host, f"/api/host/thumbnails/{devices[0]}/{empty}")
    assert status == 200 and json.loads(body) == {"hour": empty, "count": 0, "thumbnails": []}
    status, body = get(capture_host, f"/api/host/segments/{devices[0]}/{empty}")
    assert status == 404 and "error" in json.loads(body)


@pytest.mark.parametrize("hour", ["24", "-1", "99", "x", "1.5"])
def test_bad_hour_is_400(capture_host, devices, hour):
    for api in ("thumbnails", "segments"):
        status, _ = get(capture_host, f"/api/host/{api}/{devices[0]}/{hour}")
        assert status == 400, (api, hour, status)


def test_unknown_device_is_404(capture_host):
    for api in ("thumbnails", "segments"):
        status, body = get(capture_host, f"/api/host/{api}/nope/3")
        assert status == 404
        assert "error" in json.loads(body)


TRAVERSALS = [
    "/host/stream/../../../../etc/passwd",
    "/host/stream/capture1/../../../../etc/passwd",
    "/host/stream/capture1/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/host/stream/capture1/..%2f..%2f..%2f..%2fetc/passwd",
    "/host/stream/capture1/%252e%252e/%252e%252e/etc/passwd",
    "/api/host/thumbnails/../../../etc/passwd",
    "/api/host/thumbnails/capture1/..%2f..%2f..%2fetc%2fpasswd",
    "/api/host/segments/%2e%2e/3",
    "/host/stream/capture1/hot/../../../../../etc/passwd",
    "/host/stream/capture1/captures/3/..%00/etc/passwd",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_never_leaves_the_stream_tree(capture_host, path):
    status, body = get(capture_host, path)
    assert "root:x:0:0" not in body
    assert status < 500, (path, status)


def test_only_get_and_head_are_allowed(capture_host, devices):
    for method in ("POST", "PUT", "DELETE"):
        code = capture_host.check_output(
            f"curl -s -o /dev/null -w '%{{http_code}}' -X {method} http://127.0.0.1/host/stream/{devices[0]}/hot/segments/output.m3u8"
        )
        assert int(code) in (403, 405), (method, code)
