"""Rooms (dashboard/rooms.py): what a presenter publishes, what followers get, who may change it,
how followers are counted, and that bad requests get a message (never a 500)."""

from __future__ import annotations

import json
import time

import pytest
from flask import Flask

from dashboard import rooms as rooms_module
from dashboard.clients import Client
from dashboard.ratelimit import make_limiter
from dashboard.rooms import ENDED, RoomError, Rooms, install, network_addresses, qr_svg, room_links
from dashboard.settings import ClientLimits
from dashboard.store import DiskStore

PATHS = {"/", "/compare", "/sweep", "/landscape"}


def who(name: str, address: str = "10.0.0.1") -> Client:
    return Client(f"s:{name}", address)


@pytest.fixture
def rooms(tmp_path, clock):
    return Rooms(DiskStore(str(tmp_path / "store")), lambda: PATHS, clock=clock)


def test_followers_get_each_new_address_once(rooms):
    made = rooms.create(who("alice"), "/?sgd.lr=0.2&step=3")
    first = rooms.follow(made["code"], who("f"))
    assert first["url"] == "/?sgd.lr=0.2&step=3"
    again = rooms.follow(made["code"], who("f"), rev=first["rev"], bucket=first["bucket"])
    assert "url" not in again and again["rev"] == first["rev"]
    assert rooms.publish(made["code"], made["key"], "/?sgd.lr=0.2&step=3")["rev"] == first["rev"]  # same: no new rev
    assert rooms.publish(made["code"], made["key"], "/compare?runs=2")["rev"] == first["rev"] + 1
    news = rooms.follow(made["code"], who("f"), rev=first["rev"], bucket=first["bucket"])
    assert news["url"] == "/compare?runs=2" and news["rev"] == first["rev"] + 1


def test_only_the_presenter_changes_or_ends_a_room(rooms):
    made = rooms.create(who("alice"), "/")
    with pytest.raises(RoomError) as err:
        rooms.publish(made["code"], "not-the-key", "/sweep")
    assert err.value.status == 403
    with pytest.raises(RoomError):
        rooms.end(made["code"], None)
    assert rooms.url(made["code"]) == "/"
    rooms.end(made["code"], made["key"])
    with pytest.raises(RoomError) as err:
        rooms.follow(made["code"], who("f"))
    assert err.value.status == 404 and err.value.message == ENDED


@pytest.mark.parametrize("url", ["https://evil.example/", "//evil.example/x", "/admin", "", None, 42,
                                 "/?" + "x" * 5000, "javascript:alert(1)"])
def test_a_room_holds_only_this_sites_pages(rooms, url):
    with pytest.raises(RoomError) as err:
        rooms.create(who("alice"), url)
    assert err.value.status == 400 and "url" in err.value.message


@pytest.mark.parametrize("code", ["", "abc", "ABCDE1", "ABCDEFG", "../../x", None, "ABCD0O"])
def test_unknown_or_malformed_codes_are_ended_rooms(rooms, code):
    with pytest.raises(RoomError) as err:
        rooms.follow(code, who("f"))
    assert err.value.status == 404


def test_a_new_room_of_the_same_session_ends_the_last(rooms):
    first = rooms.create(who("alice"), "/")
    second = rooms.create(who("alice"), "/compare")
    with pytest.raises(RoomError):
        rooms.url(first["code"])
    assert rooms.url(second["code"]) == "/compare"
    other = rooms.create(who("bob"), "/sweep")  # someone else's room is untouched
    assert rooms.url(second["code"]) == "/compare" and rooms.url(other["code"]) == "/sweep"


def test_followers_are_counted_once_each_following_or_on_their_own(rooms, clock):
    made = rooms.create(who("alice"), "/")
    code = made["code"]
    buckets = {}
    for _ in range(5):  # three followers polling five times within one bucket
        for name in ("a", "b", "c"):
            buckets[name] = rooms.follow(code, who(name), bucket=buckets.get(name))["bucket"]
        rooms.follow(code, who("d"), bucket=None, counted=False)  # on their own: counted apart, once
    assert rooms.followers(code) == 3 and rooms.publish(code, made["key"], "/")["away"] == 1
    clock.now += rooms.bucket_s  # the next bucket: two still poll
    for name in ("a", "b"):
        buckets[name] = rooms.follow(code, who(name), bucket=buckets[name])["bucket"]
    assert rooms.followers(code) == 3  # the full bucket before still counts
    clock.now += rooms.bucket_s
    for name in ("a", "b"):
        buckets[name] = rooms.follow(code, who(name), bucket=buckets[name])["bucket"]
    assert rooms.followers(code) == 2
    assert rooms.publish(code, made["key"], "/") == {"rev": 1, "followers": 2, "away": 0}  # d left two buckets ago


def test_an_idle_room_expires(tmp_path):
    rooms = Rooms(DiskStore(str(tmp_path / "store")), lambda: PATHS, idle_s=1)
    made = rooms.create(who("alice"), "/")
    time.sleep(0.6)
    rooms.publish(made["code"], made["key"], "/?step=2")  # the presenter's heartbeat keeps it
    time.sleep(0.6)
    assert rooms.url(made["code"]) == "/?step=2"
    time.sleep(1.2)
    with pytest.raises(RoomError):
        rooms.url(made["code"])


def test_the_qr_code_is_an_svg_of_the_link():
    svg = qr_svg("http://127.0.0.1:8050/r/ABCDEF").decode()
    assert svg.startswith("<svg") and "<path" in svg
    assert qr_svg("http://127.0.0.1:8050/r/ABCDEF") != qr_svg("http://127.0.0.1:8050/r/ABCDEG")


def test_a_link_opened_on_this_computer_becomes_one_participants_can_open():
    """127.0.0.1 or localhost reach only the presenter's computer: the link takes the computer's
    network addresses (at the same port and path), those where the server answers first, and says
    why; where the server answers on none, it says how to serve so that it does."""
    lan = lambda: ["192.168.1.20", "172.17.0.1"]  # noqa: E731 (the LAN, then Docker's bridge)
    only = {("172.17.0.1", 8050)}
    found = room_links("http://127.0.0.1:8050/lab/", addresses=lan, reachable=lambda h, p: (h, p) in only)
    assert found.links == ("http://172.17.0.1:8050/lab/", "http://192.168.1.20:8050/lab/")
    assert "127.0.0.1, which only this computer can reach" in found.note and "HOST=0.0.0.0" not in found.note
    nowhere = room_links("http://localhost:8761/", addresses=lan, reachable=lambda h, p: False)
    assert nowhere.links == ("http://192.168.1.20:8761/", "http://172.17.0.1:8761/")
    assert "make run HOST=0.0.0.0" in nowhere.note and "PUBLIC_URL" in nowhere.note
    alone = room_links("http://[::1]:8050/", addresses=lambda: [], reachable=lambda h, p: True)
    assert alone.links == ("http://[::1]:8050/",) and "set PUBLIC_URL" in alone.note


def test_a_link_others_can_open_stays_and_public_url_wins():
    for root in ("http://192.168.1.20:8050/", "https://lab.example.org/"):
        assert room_links(root, addresses=lambda: ["10.0.0.2"]) == room_links(root) and room_links(root).note == ""
        assert room_links(root).links == (root,)
    assert room_links("http://127.0.0.1:8050/", "https://lab.example.org/").links == ("https://lab.example.org/",)


def test_this_computers_network_addresses_are_not_its_own_loopback():
    import ipaddress

    for address in network_addresses():
        ip = ipaddress.ip_address(address)
        assert ip.version == 4 and not ip.is_loopback and not ip.is_link_local


def test_the_room_started_on_127_0_0_1_links_elsewhere_and_its_qr_follows(rooms):
    server = _server(rooms)
    client = server.test_client()
    made = client.post("/room", json={"url": "/"}, base_url="http://127.0.0.1:8050").get_json()
    hosts = [link.split("/")[2] for link in made["links"]]
    assert made["link"] == made["links"][0] and "127.0.0.1, which only this computer can reach" in made["note"]
    if network_addresses():
        assert hosts == [f"{a}:8050" for a in network_addresses()]
    else:
        assert hosts == ["127.0.0.1:8050"] and "set PUBLIC_URL" in made["note"]
    for at in range(len(made["links"])):
        shown = client.get(f"{made['qr']}?at={at}", base_url="http://127.0.0.1:8050")
        assert shown.data == qr_svg(made["links"][at])
    assert client.get(made["qr"] + "?at=" + "9" * 5000, base_url="http://127.0.0.1:8050").data == qr_svg(made["link"])
    public = Flask(__name__)
    install(public, rooms, lambda: who("session-2"), make_limiter(public, rooms.store), "https://lab.example.org/")
    made = public.test_client().post("/room", json={"url": "/"}, base_url="http://127.0.0.1:8050").get_json()
    assert made["links"] == [f"https://lab.example.org/r/{made['code']}"] and made["note"] == ""


def test_public_url_is_checked(setenv):
    from dashboard.settings import settings

    setenv("PUBLIC_URL", "https://lab.example.org/workshop")
    assert settings().proxying.PUBLIC_URL == "https://lab.example.org/workshop/"
    for bad in ("lab.example.org", "ftp://lab.example.org/", "https://lab.example.org/?x=1"):
        setenv("PUBLIC_URL", bad)
        with pytest.raises(SystemExit, match="PUBLIC_URL"):
            settings()


class Down:
    """A shared store that does not answer."""

    def get(self, key):
        raise ConnectionError("redis gone")

    set = delete = incr = add = expires_at = get


def _server(rooms) -> Flask:
    server = Flask(__name__)
    install(server, rooms, lambda: who("session-1"), make_limiter(server, rooms.store))
    return server


@pytest.fixture
def client(rooms):
    return _server(rooms).test_client()


def test_the_routes_run_a_room(client):
    made = client.post("/room", json={"url": "/?step=4"}).get_json()
    assert made["link"].endswith(f"/r/{made['code']}") and made["qr"] == f"/room/{made['code']}/qr.svg"
    assert client.post(f"/room/{made['code']}", json={"url": "/sweep"},
                       headers={"X-Room-Key": made["key"]}).get_json()["rev"] == 2
    follow = client.get(f"/room/{made['code']}?rev=1&bucket=").get_json()
    assert follow["url"] == "/sweep" and follow["rev"] == 2
    link = client.get(f"/r/{made['code'].lower()}")
    assert link.status_code == 302 and link.headers["Location"].endswith(f"/sweep#room={made['code']}")
    qr = client.get(made["qr"])
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml"
    assert client.delete(f"/room/{made['code']}", headers={"X-Room-Key": made["key"]}).status_code == 200
    assert client.get(f"/room/{made['code']}").status_code == 404
    gone = client.get(f"/r/{made['code']}")
    assert gone.status_code == 404 and b"has ended" in gone.data


@pytest.mark.parametrize("method, path, kwargs, status", [
    ("post", "/room", {"data": "not json"}, 400),
    ("post", "/room", {"json": ["a", "list"]}, 400),
    ("post", "/room/ABCDEF", {"json": {"url": "/"}}, 404),
    ("get", "/room/ABCDEF", {}, 404),
    ("get", "/room/%00%01", {}, 404),
    ("delete", "/room/ABCDEF", {}, 404),
    ("get", "/room/ABCDEF/qr.svg", {}, 404),
])
def test_bad_requests_get_a_message(client, method, path, kwargs, status):
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"]


def test_a_store_that_does_not_answer_is_a_message_not_a_500():
    client = _server(Rooms(Down(), lambda: PATHS)).test_client()
    for response in (client.post("/room", json={"url": "/"}), client.get("/room/ABCDEF"),
                     client.get("/r/ABCDEF")):
        assert response.status_code == 503
    assert "unavailable" in client.post("/room", json={"url": "/"}).get_json()["error"]


def test_one_client_is_one_follower_however_it_polls(rooms):
    """A client that forgets (or forges) its bucket at every poll is still counted once."""
    code = rooms.create(who("alice"), "/")["code"]
    for _ in range(30):
        rooms.follow(code, who("mallory"), bucket=None)
        rooms.follow(code, who("mallory"), bucket="12345")
    rooms.follow(code, who("bob"))
    assert rooms.followers(code) == 2


def test_rooms_are_capped_per_address_and_in_all(tmp_path, clock):
    limits = ClientLimits(ROOMS_PER_ADDRESS=3, ROOMS_MAX=5)
    rooms = Rooms(DiskStore(str(tmp_path / "store")), lambda: PATHS, clock=clock, limits=limits)
    made = [rooms.create(who(f"s{i}", "10.0.0.1"), "/") for i in range(3)]
    with pytest.raises(RoomError) as err:
        rooms.create(who("s9", "10.0.0.1"), "/")
    assert err.value.status == 429 and "at most 3" in err.value.message
    rooms.create(who("s0", "10.0.0.1"), "/")  # a session's new room replaces its last: still 3
    rooms.end(made[1]["code"], made[1]["key"])  # an ended room frees its place
    rooms.create(who("s8", "10.0.0.1"), "/")
    rooms.create(who("t1", "10.0.0.2"), "/")
    rooms.create(who("t2", "10.0.0.3"), "/")
    with pytest.raises(RoomError) as err:
        rooms.create(who("u1", "10.0.0.4"), "/")
    assert err.value.status == 429 and "as many rooms" in err.value.message


def test_guessing_room_codes_is_throttled_per_address(tmp_path):
    limits = ClientLimits(ROOM_MISSES_PER_MINUTE=5)
    rooms = Rooms(DiskStore(str(tmp_path / "store")), lambda: PATHS, limits=limits)
    client = _server(rooms).test_client()
    made = client.post("/room", json={"url": "/"}).get_json()
    for _ in range(10):  # a follower of a live room polls as often as it likes
        assert client.get(f"/room/{made['code']}").status_code == 200
    statuses = [client.get(f"/room/{code}").status_code for code in ("AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD",
                                                                     "EEEEEE", "FFFFFF", "GGGGGG")]
    assert statuses[:5] == [404] * 5 and statuses[5:] == [429, 429]
    refused = client.get("/r/HHHHHH")
    assert refused.status_code == 429 and "Too many requests from your network" in refused.get_data(as_text=True)


def test_past_the_guessing_limit_a_follower_keeps_its_room(tmp_path):
    """A guesser on the follower's network uses up the address's misses: every lookup from there is
    refused (else a 200 would still tell a live code from a dead one) but a room its session follows."""
    rooms = Rooms(DiskStore(str(tmp_path / "store")), lambda: PATHS, limits=ClientLimits(ROOM_MISSES_PER_MINUTE=3))
    server = Flask(__name__)
    current = {"who": who("presenter")}
    install(server, rooms, lambda: current["who"], make_limiter(server, rooms.store))
    client = server.test_client()
    code = client.post("/room", json={"url": "/"}).get_json()["code"]
    current["who"] = who("follower")
    assert client.get(f"/r/{code}").status_code == 302  # the follower opens the room's link
    current["who"] = who("guesser")
    assert [client.get(f"/room/{c * 6}").status_code for c in "ABCD"] == [404, 404, 404, 429]
    assert client.get(f"/room/{code}").status_code == 429, "a live code is refused to the guesser too"
    current["who"] = who("follower")
    assert client.get(f"/room/{code}").status_code == 200, "the follower's room still answers"


# Under a sub-path (Dash's url_base_pathname "/lab/"): the pages' addresses are Dash's relative paths
LAB_PATHS = {"/lab/", "/lab/compare", "/lab/sweep", "/lab/landscape"}


def _lab_server(rooms, routes: str = "/lab/", requests: str = "/lab/", public_url: str = "") -> Flask:
    server = Flask(__name__)
    install(server, rooms, lambda: who("session-1"), make_limiter(server, rooms.store, json_under=f"{routes}room"),
            public_url, routes_prefix=routes, requests_prefix=requests)
    return server


@pytest.fixture
def lab_rooms(tmp_path, clock):
    return Rooms(DiskStore(str(tmp_path / "store")), lambda: LAB_PATHS, clock=clock,
                 limits=ClientLimits(ROOM_MISSES_PER_MINUTE=3))


def test_under_a_sub_path_every_room_route_is_under_it(lab_rooms):
    client = _lab_server(lab_rooms).test_client()
    base = "http://lab.example.org"
    assert client.post("/room", json={"url": "/lab/"}, base_url=base).status_code == 404, "nothing at the root"
    made = client.post("/lab/room", json={"url": "/lab/?step=4"}, base_url=base).get_json()
    code = made["code"]
    assert made["link"] == f"{base}/lab/r/{code}" and made["links"] == [made["link"]]
    assert made["qr"] == f"/lab/room/{code}/qr.svg"
    assert client.get(made["qr"], base_url=base).data == qr_svg(made["link"])
    assert client.post(f"/lab/room/{code}", json={"url": "/lab/sweep"},
                       headers={"X-Room-Key": made["key"]}).get_json()["rev"] == 2
    assert client.get(f"/lab/room/{code}?rev=1").get_json()["url"] == "/lab/sweep"
    link = client.get(f"/lab/r/{code}")
    assert link.status_code == 302 and link.headers["Location"] == f"/lab/sweep#room={code}"
    for outside in (f"/r/{code}", f"/room/{code}", f"/room/{code}/qr.svg"):
        assert client.get(outside).status_code == 404, outside
    assert client.delete(f"/lab/room/{code}", headers={"X-Room-Key": made["key"]}).status_code == 200
    gone = client.get(f"/lab/r/{code}")
    assert gone.status_code == 404 and b'<a href="/lab/">' in gone.data
    statuses = [client.get(f"/lab/room/{c * 6}").status_code for c in "ABCD"]
    assert statuses == [404, 404, 404, 429] and client.get("/lab/room/EEEEEE").get_json()["error"], \
        "a refusal of the room's API is JSON under the sub-path too"


def test_behind_a_proxy_that_strips_the_sub_path_the_routes_are_at_the_root_and_the_links_under_it(lab_rooms):
    """DASH_REQUESTS_PATHNAME_PREFIX=/lab/ alone: the proxy forwards /lab/x as /x."""
    client = _lab_server(lab_rooms, routes="/").test_client()
    made = client.post("/room", json={"url": "/lab/compare"}, base_url="https://lab.example.org").get_json()
    assert made["link"] == f"https://lab.example.org/lab/r/{made['code']}"
    assert made["qr"] == f"/lab/room/{made['code']}/qr.svg"
    assert client.get(f"/room/{made['code']}/qr.svg").status_code == 200
    assert client.get(f"/r/{made['code']}").headers["Location"] == f"/lab/compare#room={made['code']}"


def test_a_rooms_short_link_leads_only_to_this_apps_pages(lab_rooms):
    """A room holds the pages' addresses under the app's path only; one whose address is not (a room
    of an app served elsewhere in the same store, or a damaged entry) has ended: no redirect out."""
    with pytest.raises(RoomError):
        lab_rooms.create(who("alice"), "/compare")  # the site root's page, outside the app
    client = _lab_server(lab_rooms).test_client()
    code = client.post("/lab/room", json={"url": "/lab/"}).get_json()["code"]
    for elsewhere in ("/compare", "https://evil.example/lab/", "//evil.example/lab/"):
        lab_rooms.store.set(f"room:{code}", json.dumps({"url": elsewhere, "rev": 1, "key": ""}), expire=60)
        answer = client.get(f"/lab/r/{code}")
        assert answer.status_code == 404 and "Location" not in answer.headers, elsewhere


def test_public_url_must_be_the_apps_address():
    rooms_module.check_public_url("https://lab.example.org/lab/", "/lab/")
    rooms_module.check_public_url("https://lab.example.org/", "/")
    rooms_module.check_public_url("", "/lab/")
    with pytest.raises(SystemExit, match="DASH_URL_BASE_PATHNAME"):
        rooms_module.check_public_url("https://lab.example.org/", "/lab/")
