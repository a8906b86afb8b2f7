"""The plan's API paths through nginx: right JSON, 400 for a bad hour, 404 for an unknown device or missing
manifest, and no hostile request (traversal in every encoding, bad hours, unknown devices, very long paths,
methods other than GET/HEAD) reads outside the stream tree or gets a 5xx."""

import base64
import collections
import json
import os
import shlex
import sys
import time
import uuid

import hosttools
import pytest

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "tests", "reliability"))
from record import record  # noqa: E402


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


def headers(host, path):
    """{lowercase name: value} of the response headers of a GET through the host's nginx."""
    out = host.check_output(f"curl -s -o /dev/null -D - {shlex.quote('http://127.0.0.1' + path)}")
    pairs = (line.split(":", 1) for line in out.splitlines()[1:] if ":" in line)
    return {name.strip().lower(): value.strip() for name, value in pairs}


def test_cors_header_on_api_answers_and_stream_files(capture_host, devices, hostvars, hour):
    """A central fleet page on another origin reads every host: the API and the streams (live, archived,
    and their error answers) carry Access-Control-Allow-Origin (stream_endpoints_cors_origin, default *)."""
    origin = hostvars.get("stream_endpoints_cors_origin", "*")
    status, body = get(capture_host, f"/api/host/thumbnails/{devices[0]}/{hour}")
    archived = json.loads(body)["thumbnails"][-1]
    paths = [
        f"/api/host/thumbnails/{devices[0]}/{hour}", f"/api/host/segments/{devices[0]}/{hour}",
        f"/api/host/thumbnails/{devices[0]}/{(hour + 12) % 24}", "/api/host/segments/nope/3",
        f"/api/host/segments/{devices[0]}/24", f"/host/stream/{devices[0]}/hot/captures/latest.jpg",
        f"/host/stream/{devices[0]}/hot/segments/output.m3u8", archived,
        f"/host/stream/{devices[0]}/segments/{hour}/archive.m3u8", "/host/stream/nope/hot/captures/latest.jpg",
    ]
    missing = {p: h.get("access-control-allow-origin") for p in paths
               if (h := headers(capture_host, p)).get("access-control-allow-origin") != origin}
    assert not missing, f"expected Access-Control-Allow-Origin: {origin}, got {missing}"


NGINX_LOGS = "/var/log/nginx"


def log_files(host):
    """{path: size} of every file in nginx's log folder on the SD card."""
    out = host.check_output(f"find {NGINX_LOGS} -type f -printf '%p %s\\n'")
    return {path: int(size) for path, size in (line.rsplit(" ", 1) for line in out.splitlines())}


def journal_lines(host, marker, seconds=10):
    """Lines of nginx's journald log (syslog tag hotcold_nginx) holding marker, once the API line is there."""
    command = f"journalctl --no-pager -o cat -t hotcold_nginx --since=-10min | grep -F {marker} || true"
    end = time.monotonic() + seconds
    while True:
        lines = host.check_output(command)
        if "/api/host/" in lines or time.monotonic() > end:
            return lines
        time.sleep(0.5)


def test_requests_write_no_log_on_the_sd_and_go_to_journald(capture_host, devices, hour):
    """The page polls latest.jpg every 500 ms: no request may write to the card. Requests for live files
    are not logged; the others (API, archive, a missing file) go to journald."""
    before = log_files(capture_host)
    marker = uuid.uuid4().hex
    live = f"/host/stream/{devices[0]}/hot/captures/latest.jpg?poll={marker}"
    api = f"/api/host/thumbnails/{devices[0]}/{hour}?probe={marker}"
    missing = f"/host/stream/{devices[0]}/captures/{hour}/capture_1.jpg?probe={marker}"
    statuses = [get(capture_host, path)[0] for path in [live] * 40 + [api, missing]]
    assert statuses == [200] * 41 + [404], statuses
    lines = journal_lines(capture_host, marker)
    assert f"/api/host/thumbnails/{devices[0]}/{hour}?probe={marker}" in lines, lines
    assert f"capture_1.jpg?probe={marker}" in lines, lines
    assert "poll=" not in lines, lines
    after = log_files(capture_host)
    assert after == before, f"nginx wrote to {NGINX_LOGS} on the SD: {before} -> {after}"


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


# Hostile requests, sent byte for byte over a raw socket inside the container (curl and urllib would
# normalise some of them). Each names the status nginx answers with and why; none may be a 5xx, and no
# body may hold /etc/passwd or the canary planted outside the stream tree. `pad` appends that many "a" to
# the path (the request line is then built in the container). `raw` is the whole request.
CANARY_FILES = ["/etc/hotcold-canary", "/var/www/html/hotcold-canary", "/var/www/hotcold-canary"]
S = "/host/stream/capture1"
M3U8 = f"{S}/hot/segments/output.m3u8"
HOSTILE = [
    # Traversal, plain and in every encoding. nginx resolves "..", "%2e" and "%2f" before choosing a
    # location and answers 400 when the path climbs above "/"; anything else that survives normalisation
    # matches no anchored location and falls into the prefix's 404 (or the web root's). The canary cases
    # climb exactly as far as a naive prefix-to-base_path mapping would need to reach the planted file.
    ("dotdot from the prefix", {"path": "/host/stream/../../../../etc/passwd"}, 400),
    ("dotdot from a device", {"path": f"{S}/../../../../etc/passwd"}, 400),
    ("dotdot from the tmpfs", {"path": f"{S}/hot/../../../../../etc/passwd"}, 400),
    ("%2e%2e", {"path": f"{S}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd"}, 400),
    (".%2e", {"path": f"{S}/.%2e/.%2e/.%2e/.%2e/etc/passwd"}, 400),
    ("..%2f", {"path": f"{S}/..%2f..%2f..%2f..%2fetc/passwd"}, 400),
    ("double-encoded %252e", {"path": f"{S}/%252e%252e/%252e%252e/etc/passwd"}, 404),
    ("backslash", {"path": S + "/..\\..\\..\\..\\etc\\passwd"}, 404),
    ("%5c backslash", {"path": f"{S}/..%5c..%5c..%5c..%5cetc%5cpasswd"}, 404),
    ("overlong UTF-8 dot %c0%ae", {"path": f"{S}/%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd"}, 404),
    ("overlong UTF-8 slash %c0%af", {"path": f"{S}/..%c0%af..%c0%af..%c0%afetc%c0%afpasswd"}, 404),
    ("NUL %00 in a folder", {"path": f"{S}/captures/3/..%00/etc/passwd"}, 400),
    ("NUL %00 after a file", {"path": f"{S}/hot/captures/latest.jpg%00.txt"}, 400),
    ("canary next to the stream root", {"path": "/host/stream/../hotcold-canary"}, 404),
    ("canary via %2e%2e", {"path": "/host/stream/%2e%2e/hotcold-canary"}, 404),
    ("canary from an hour folder", {"path": f"{S}/captures/3/../../../../hotcold-canary"}, 404),
    ("canary via ..%2f from an hour", {"path": f"{S}/captures/3/..%2f..%2f..%2f..%2fhotcold-canary"}, 404),
    ("canary via ..%2f from the tmpfs", {"path": f"{S}/hot/captures/..%2f..%2f..%2f..%2fhotcold-canary"}, 404),
    ("canary at the web root", {"path": "/hotcold-canary"}, 404),
    ("double slash", {"path": "//etc/passwd"}, 404),
    ("double slash under the prefix", {"path": "/host/stream//etc/passwd"}, 404),
    ("dotdot after a page file", {"path": "/index.html/../../etc/passwd"}, 400),
    ("absolute URI with dotdot", {"raw": "GET http://127.0.0.1/../../etc/passwd HTTP/1.1\r\nHost: x\r\n"}, 400),
    ("relative request target", {"raw": "GET ../../etc/passwd HTTP/1.1\r\nHost: x\r\n"}, 400),
    ("dotdot in the Host header", {"raw": f"GET {S}/hot/captures/latest.jpg HTTP/1.1\r\nHost: ../../etc\r\n"}, 400),
    ("API: dotdot", {"path": "/api/host/thumbnails/../../../etc/passwd"}, 404),
    ("API: ..%2f as the hour", {"path": "/api/host/thumbnails/capture1/..%2f..%2f..%2fetc%2fpasswd"}, 404),
    ("API: %2e%2e as the device", {"path": "/api/host/segments/%2e%2e/3"}, 404),
    ("API: .. as the hour", {"path": "/api/host/thumbnails/capture1/.."}, 404),
    # Hidden and temporary files, folder listings: inside the tree, never served.
    ("hidden day marker", {"path": f"{S}/captures/3/.day"}, 404),
    ("FFmpeg temp file", {"path": f"{S}/hot/segments/segment_1.ts.tmp"}, 404),
    ("folder listing", {"path": f"{S}/captures/3/"}, 404),
    # Hours out of range or not a number (the API answers a JSON 400), unknown devices (JSON 404).
    ("hour 24", {"path": "/api/host/thumbnails/capture1/24"}, 400),
    ("hour -1", {"path": "/api/host/segments/capture1/-1"}, 400),
    ("hour of 20 digits", {"path": "/api/host/thumbnails/capture1/99999999999999999999"}, 400),
    ("hour 0x3", {"path": "/api/host/segments/capture1/0x3"}, 400),
    ("hour empty", {"path": "/api/host/segments/capture1/"}, 400),
    ("hour with %00", {"path": "/api/host/segments/capture1/3%00"}, 400),
    ("unknown device", {"path": "/api/host/thumbnails/nope/3"}, 404),
    ("device in capitals", {"path": "/api/host/segments/CAPTURE1/3"}, 404),
    ("unknown device's live file", {"path": "/host/stream/nope/hot/captures/latest.jpg"}, 404),
    ("device name prefix", {"path": "/host/stream/capture1x/hot/captures/latest.jpg"}, 404),
    # Very long paths: nginx's request-line buffer (large_client_header_buffers, 8 KB) answers 414.
    ("4 KB path", {"path": S + "/", "pad": 4096}, 404),
    ("8 KB path", {"path": S + "/", "pad": 8192}, 414),
    ("64 KB path", {"path": S + "/", "pad": 65536}, 414),
    # Methods other than GET/HEAD: the server-level rule answers 405 before any location; a lowercase
    # method is not HTTP at all (400).
] + [(f"method {m}", {"method": m, "path": M3U8}, 405) for m in (
    "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE",
    "LOCK", "UNLOCK", "CONNECT",
)] + [
    ("PUT with a body",
     {"raw": f"PUT {S}/hot/captures/x.jpg HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n", "body": "hello"}, 405),
    ("lowercase method", {"method": "get", "path": M3U8}, 400),
]

SEND_ALL = r'''
import base64, json, socket, sys
cases = json.loads(sys.argv[1])
out = []
for c in cases:
    if "raw" in c:
        head = c["raw"]
    else:
        head = c.get("method", "GET") + " " + c["path"] + "a" * c.get("pad", 0) + " HTTP/1.1\r\nHost: localhost\r\n"
    request = (head + "Connection: close\r\n\r\n" + c.get("body", "")).encode("latin-1")
    s = socket.create_connection(("127.0.0.1", 80), timeout=15)
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    out.append({"status": int(line.split()[1]), "line": line, "response": base64.b64encode(data).decode()})
print(json.dumps(out))
'''


@pytest.fixture(scope="module")
def canary(capture_host):
    """A unique string in files readable by nginx outside the stream tree; removed afterwards."""
    text = f"hotcold-canary-{uuid.uuid4().hex}"
    for path in CANARY_FILES:
        capture_host.run_expect([0], f"printf '%s\\n' {text} > {path} && chmod 0644 {path}")
        # Readable by nginx's workers: a request that escaped the tree would get it.
        assert text in capture_host.check_output(f"runuser -u www-data -- cat {path}")
    yield text
    capture_host.run(f"rm -f {' '.join(CANARY_FILES)}")


@pytest.fixture(scope="module")
def hostile_answers(capture_host, canary):
    """Send every hostile request once; {name: {"status", "line", "text"}}."""
    specs = json.dumps([spec for _, spec, _ in HOSTILE])
    code = SEND_ALL.replace("json.loads(sys.argv[1])", f"json.loads({specs!r})")
    answers = hosttools.run_python(capture_host, code, timeout=120)
    assert len(answers) == len(HOSTILE)
    for answer in answers:
        answer["text"] = base64.b64decode(answer.pop("response")).decode("latin-1")
    return {name: answer for (name, _, _), answer in zip(HOSTILE, answers, strict=True)}


def test_hostile_table_is_distinct_and_big_enough():
    names = [name for name, _, _ in HOSTILE]
    requests = [json.dumps(spec, sort_keys=True) for _, spec, _ in HOSTILE]
    assert len(set(names)) == len(names) and len(set(requests)) == len(requests)
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize("name,spec,expected", HOSTILE, ids=[name for name, _, _ in HOSTILE])
def test_hostile_request_gets_its_4xx_and_nothing_from_outside(hostile_answers, canary, name, spec, expected):
    answer = hostile_answers[name]
    assert answer["status"] < 500, (name, answer["line"])
    assert answer["status"] == expected, (name, answer["line"])
    assert canary not in answer["text"], (name, answer["text"][:500])
    assert "root:x:0:0" not in answer["text"], (name, answer["text"][:500])


def test_nginx_still_serves_after_the_hostile_requests_and_records_them(capture_host, hostile_answers, canary, devices):
    # Every case above passed (this runs after them, in file order): the site still answers a normal request.
    status, _ = get(capture_host, f"/api/host/thumbnails/{devices[0]}/0")
    assert status == 200
    assert capture_host.service("nginx").is_running
    statuses = collections.Counter(str(a["status"]) for a in hostile_answers.values())
    expected = collections.Counter(str(e) for _, _, e in HOSTILE)
    assert statuses == expected
    outside = sum(1 for a in hostile_answers.values() if canary in a["text"] or "root:x:0:0" in a["text"])
    five_xx = sum(1 for a in hostile_answers.values() if a["status"] >= 500)
    assert outside == 0 and five_xx == 0
    record(
        "bad_input", "hostile HTTP requests to the stream endpoints (nginx in a molecule host)",
        tried=len(HOSTILE), statuses=dict(sorted(statuses.items())), outside_reads=outside, five_xx=five_xx,
        canaries=len(CANARY_FILES),
        source="molecule/default/tests/test_4_api.py::test_nginx_still_serves_after_the_hostile_requests_and_records_them",
    )
