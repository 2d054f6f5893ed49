"""Behind a proxy, as production users often are: `HTTP_PROXY` / `HTTPS_PROXY` / `ALL_PROXY` and
`NO_PROXY` are honoured as httpx (`trust_env`) and curl read them, through a real forwarding proxy
on loopback; proxy credentials in the URL are sent to the proxy and never shown."""

from __future__ import annotations

import socket

import pytest
from loopback import ForwardingProxy
from test_contract_http import DAY_CALLS, failure, landed, materialize, resource, serve

from calllog_pipeline.providers import REGISTRY

PROXY_VARIABLES = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"]


@pytest.fixture(autouse=True)
def no_proxy_settings_of_the_machine(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def run_through(provider: str, endpoint: str, tmp_path, env: dict[str, str], monkeypatch):
    with serve(provider, endpoint) as server:
        for name, value in env.items():
            monkeypatch.setenv(name, value.replace("{server}", server.url))
        result = materialize(provider, endpoint, resource(provider, server), tmp_path)
    return result, server


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
@pytest.mark.parametrize("provider", list(REGISTRY))
def test_every_provider_goes_through_the_proxy_the_environment_names(
    provider, variable, tmp_path, monkeypatch
):
    endpoint = REGISTRY[provider].endpoints[0].name
    with ForwardingProxy() as proxy:
        result, server = run_through(provider, endpoint, tmp_path, {variable: proxy.url}, monkeypatch)
    assert result.success, failure(result)
    assert landed(provider, endpoint, tmp_path) == sorted(DAY_CALLS)
    assert len(proxy.forwarded) == len(server.requests) > 0
    assert all(url.startswith(server.url) for url in proxy.forwarded)


def test_no_proxy_names_hosts_reached_directly(tmp_path, monkeypatch):
    with ForwardingProxy() as proxy:
        env = {"HTTP_PROXY": proxy.url, "NO_PROXY": "example.com,127.0.0.1"}
        result, server = run_through("dialnexa", "calls", tmp_path, env, monkeypatch)
    assert result.success, failure(result)
    assert proxy.forwarded == [] and len(server.requests) > 0


def test_an_https_proxy_variable_is_not_used_for_an_http_api(tmp_path, monkeypatch):
    with ForwardingProxy() as proxy:
        result, _ = run_through("dialnexa", "calls", tmp_path, {"HTTPS_PROXY": proxy.url}, monkeypatch)
    assert result.success, failure(result)
    assert proxy.forwarded == []


def test_proxy_credentials_in_the_url_are_sent_to_the_proxy_and_never_shown(tmp_path, monkeypatch):
    with ForwardingProxy(credentials="alice:pr0xy-s3cret") as proxy:
        host = proxy.url.removeprefix("http://")
        result, _ = run_through(
            "dialnexa", "calls", tmp_path, {"HTTP_PROXY": f"http://alice:pr0xy-s3cret@{host}"}, monkeypatch
        )
        assert result.success, failure(result)
        assert proxy.forwarded and proxy.refused == 0
        # The wrong password: the proxy refuses (407); the failure says so, without the password.
        result, _ = run_through(
            "dialnexa", "calls", tmp_path, {"HTTP_PROXY": f"http://alice:wr0ng-s3cret@{host}"}, monkeypatch
        )
    assert not result.success
    message = failure(result)
    assert "proxy" in message.lower() and "HTTP_PROXY" in message
    assert "wr0ng-s3cret" not in message


def test_a_proxy_that_is_down_fails_naming_the_proxy_setting(tmp_path, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result, server = run_through(
        "dialnexa", "calls", tmp_path, {"HTTP_PROXY": f"http://127.0.0.1:{port}"}, monkeypatch
    )
    assert not result.success
    assert server.requests == []
    message = failure(result)
    assert f"127.0.0.1:{port}" in message and "HTTP_PROXY" in message


def https_api(provider: str = "dialnexa"):
    api_type = type(REGISTRY[provider].api())
    fast = {"max_attempts": 2, "max_backoff_s": 0.05}
    return api_type(base_url="https://api.dialnexa.example/v1", api_key="k", **fast)


def test_an_https_api_is_tunnelled_through_https_proxy_and_its_refusals_name_it(tmp_path, monkeypatch):
    with ForwardingProxy(credentials="bob:tunn3l-s3cret") as proxy:
        host = proxy.url.removeprefix("http://")
        monkeypatch.setenv("HTTPS_PROXY", f"http://bob:tunn3l-s3cret@{host}")
        result = materialize("dialnexa", "calls", https_api(), tmp_path)
        assert proxy.tunnels == ["api.dialnexa.example:443"] * 2 and proxy.refused == 0
        assert not result.success  # this proxy opens no tunnel (502)
        assert f"through the proxy {host}" in failure(result) and "HTTPS_PROXY" in failure(result)
        monkeypatch.setenv("HTTPS_PROXY", f"http://bob:wr0ng@{host}")
        result = materialize("dialnexa", "calls", https_api(), tmp_path)
    assert proxy.refused == 1, "a refused password is not retried"
    assert "refused our credentials (HTTP 407)" in failure(result) and "wr0ng" not in failure(result)
