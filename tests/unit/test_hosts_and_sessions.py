"""The Host allow-list, the UI's session value and where a login may send the browser."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.requests import Request

from jejakekal.domain.hosts import HostAllowList, host_of, split_host
from jejakekal.web.csrf import same_origin
from jejakekal.web.session import next_of_url, safe_next, session_value, token_matches


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:4110",
        "LOCALHOST:1",
        "127.0.0.1:4010",
        "[::1]:4110",
        "[::1]",
        "127.0.0.5",
        "localhost.",
    ],
)
def test_loopback_names_are_answered_on_any_port(host: str) -> None:
    assert HostAllowList.for_server("127.0.0.1").allows(host)


@pytest.mark.parametrize(
    "host",
    [
        None,
        "",
        "evil.example",
        "evil.example:4110",
        "127.0.0.1.evil.example",
        "localhost.evil",
        "10.0.0.5",
        "user@localhost",
        "localhost:4110/x",
        "localhost:99999",
        "[::1",
        "local host",
    ],
)
def test_other_or_malformed_hosts_are_refused(host: str | None) -> None:
    assert not HostAllowList.for_server("127.0.0.1").allows(host)


def test_the_bound_address_is_answered_unless_it_is_a_wildcard() -> None:
    assert HostAllowList.for_server("10.0.0.5").allows("10.0.0.5:4010")
    for wildcard in ("0.0.0.0", "::"):
        hosts = HostAllowList.for_server(wildcard)
        assert not hosts.allows("0.0.0.0:4010")
        assert hosts.allows("localhost:4010")


def test_configured_names_are_answered_and_a_port_in_an_entry_binds_it() -> None:
    hosts = HostAllowList.for_server("0.0.0.0", ["UI.Example", "api.example:8443", "bad name"])

    assert hosts.allows("ui.example:4110")
    assert hosts.allows("ui.example")
    assert hosts.allows("api.example:8443")
    assert not hosts.allows("api.example:4010")
    assert not hosts.allows("api.example")


def test_a_repeated_host_header_names_no_host() -> None:
    assert host_of([(b"host", b"localhost")]) == "localhost"
    assert host_of([(b"host", b"localhost"), (b"host", b"evil.example")]) is None
    assert host_of([]) is None
    assert split_host("[::1]:80") == ("::1", 80)


def test_the_session_value_is_derived_from_the_token_not_the_token() -> None:
    value = session_value("s3cret")

    assert "s3cret" not in value
    assert value == session_value("s3cret")
    assert value != session_value("s3cret2")
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cre", "s3cret")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/runs/r-1?step=2", "/runs/r-1?step=2"),
        (None, "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/login?next=/x", "/"),
        ("/runs/x\r\nSet-Cookie: a=b", "/"),
    ],
)
def test_after_login_the_browser_only_goes_to_a_path_of_this_site(
    given: str | None, expected: str
) -> None:
    assert safe_next(given) == expected


def test_htmx_current_url_gives_its_path_and_query() -> None:
    assert next_of_url("http://127.0.0.1:4110/runs/r-1?step=3") == "/runs/r-1?step=3"
    assert next_of_url(None) == "/"


def _form_post(host: str, origin: str) -> Request:
    app = SimpleNamespace(state=SimpleNamespace(hosts=HostAllowList.for_server("127.0.0.1")))
    headers = [(b"host", host.encode()), (b"origin", origin.encode())]
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "path": "/commands",
        "headers": headers,
        "app": app,
    }
    return Request(scope)


def test_the_csrf_origin_check_compares_with_the_allow_list_not_only_the_host() -> None:
    # A rebinding page's Origin equals the Host it sends: that alone must not pass.
    assert not same_origin(_form_post("evil.example:4110", "http://evil.example:4110"))
    assert same_origin(_form_post("localhost:4110", "http://localhost:4110"))
    assert not same_origin(_form_post("localhost:4110", "http://localhost:4010"))
