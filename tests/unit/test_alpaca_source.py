"""The Alpaca source: the real alpaca-py clients, through AlpacaSource, against a fake Alpaca
data server on 127.0.0.1 (tests/fakes/alpaca_server.py). Paging, retries, refusals, credentials,
crypto, empty windows, and raw bars that normalize cleanly."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import polars as pl
import pytest
from pydantic import ValidationError

from foxml_dagster.data.alpaca import AlpacaConfig, AlpacaCredentialsError, AlpacaError, AlpacaSource
from foxml_dagster.data.normalize import normalize_bars
from foxml_dagster.data.raw import RAW_SCHEMA
from tests.fakes.alpaca_server import CRYPTO_PATH, STOCKS_PATH, FakeAlpaca, expected_bars

TUESDAY, FRIDAY = date(2024, 1, 2), date(2024, 1, 5)
KEY_ENVS = ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY", "MY_KEY", "MY_SECRET")


@pytest.fixture(autouse=True)
def no_keys_in_env(monkeypatch):
    """A developer's real keys must never reach a test (or Alpaca)."""
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    with FakeAlpaca() as server:
        yield server


@pytest.fixture
def keys(fake, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", fake.key_id)
    monkeypatch.setenv("APCA_API_SECRET_KEY", fake.secret_key)


def alpaca(fake, symbols=("AAPL",), start=TUESDAY, end=FRIDAY, **settings) -> AlpacaSource:
    config = AlpacaConfig(url_override=fake.url, retry_wait_seconds=0.001, **({"timeframe": "1Hour"} | settings))
    return AlpacaSource(config, list(symbols), start, end)


def served(symbol="AAPL", timeframe="1Hour", start=TUESDAY, end=FRIDAY, asset_class="stocks") -> list[dict]:
    first = datetime.combine(start, time(0, 0), UTC)
    last = datetime.combine(end, time(23, 59, 59), UTC)
    return expected_bars(asset_class, symbol, timeframe, first, last)


def as_text(bars: list[dict], key: str) -> list[str]:
    return [str(bar[key]).replace("Z", "+00:00") if key == "t" else str(bar[key]) for bar in bars]


# --- paging ------------------------------------------------------------------------------------


def test_pages_of_page_limit_bars_are_reassembled_in_order_with_no_gaps_or_duplicates(fake, keys):
    raw = alpaca(fake, page_limit=7).read_raw("AAPL")

    want = served()
    assert len(want) == 24  # Tue-Fri, six hourly bars a session
    assert raw["ts"].to_list() == as_text(want, "t")
    for column, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")):
        assert raw[column].to_list() == as_text(want, key), column
    assert raw["source_row"].to_list() == list(range(1, 25))

    calls = fake.requests_to(STOCKS_PATH)
    assert len(calls) == 4  # 7 + 7 + 7 + 3
    assert [c.query["limit"] for c in calls] == ["7"] * 4
    tokens = [c.query.get("page_token") for c in calls]
    assert tokens[0] is None and len(set(tokens[1:])) == 3


def test_pages_capped_by_the_server_are_followed_to_the_end(fake, keys):
    fake.max_page_size = 500
    raw = alpaca(fake, timeframe="1Min").read_raw("MSFT")

    want = served("MSFT", "1Min")
    assert len(want) == 4 * 390
    assert raw["ts"].to_list() == as_text(want, "t")
    assert raw["ts"].n_unique() == raw.height
    assert len(fake.requests_to(STOCKS_PATH)) == 4  # 500 + 500 + 500 + 60


def test_the_request_carries_window_timeframe_adjustment_and_feed(fake, keys):
    source = alpaca(fake, timeframe="1Day", adjustment="split", feed="iex")
    raw = source.read_raw("AAPL")

    (call,) = fake.requests
    assert call.path == STOCKS_PATH
    assert call.query["symbols"] == "AAPL"
    assert call.query["timeframe"] == "1Day"
    assert call.query["start"] == "2024-01-02T00:00:00+00:00"
    assert call.query["end"] == "2024-01-05T23:59:59+00:00"  # data.end is inclusive
    assert (call.query["adjustment"], call.query["feed"]) == ("split", "iex")
    assert raw["ts"].to_list()[-1] == "2024-01-05T05:00:00+00:00"
    assert raw["origin"].unique().to_list() == [
        "alpaca:stocks/bars?symbols=AAPL&timeframe=1Day&start=2024-01-02&end=2024-01-05&adjustment=split&feed=iex"
    ]


def test_no_end_date_asks_alpaca_for_everything_since_start(fake, keys):
    alpaca(fake, start=date.today(), end=None).read_raw("AAPL")
    assert "end" not in fake.requests[0].query


# --- retries -----------------------------------------------------------------------------------


def test_rate_limited_requests_are_retried_until_they_succeed(fake, keys):
    fake.fail_next(429, 429)
    raw = alpaca(fake, max_attempts=3).read_raw("AAPL")

    assert raw["ts"].to_list() == as_text(served(), "t")
    assert [c.status for c in fake.requests] == [429, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_until_they_succeed(fake, keys, status):
    fake.fail_next(status)
    raw = alpaca(fake).read_raw("AAPL")

    assert raw.height == 24
    assert [c.status for c in fake.requests] == [status, 200]


def test_a_retry_in_the_middle_of_paging_resumes_at_the_same_page(fake, keys):
    fake.fail_next(503, 429, after=1)
    raw = alpaca(fake, page_limit=10).read_raw("AAPL")

    assert raw["ts"].to_list() == as_text(served(), "t")
    calls = fake.requests
    assert [c.status for c in calls] == [200, 503, 429, 200, 200]
    assert calls[1].query["page_token"] == calls[2].query["page_token"] == calls[3].query["page_token"]


@pytest.mark.parametrize("status", [429, 503])
def test_a_status_that_persists_fails_clearly_after_the_configured_attempts(fake, keys, status):
    fake.fail_always(status)
    with pytest.raises(AlpacaError, match=rf"HTTP {status}.* on all 3 attempts.*max_attempts") as failure:
        alpaca(fake, max_attempts=3).read_raw("AAPL")

    assert (failure.value.status, failure.value.attempts) == (status, 3)
    assert len(fake.requests) == 3


def test_one_attempt_means_no_retry(fake, keys):
    fake.fail_next(503)
    with pytest.raises(AlpacaError, match="on all 1 attempts"):
        alpaca(fake, max_attempts=1).read_raw("AAPL")
    assert len(fake.requests) == 1


# --- refusals ----------------------------------------------------------------------------------


def test_wrong_keys_are_reported_as_refused_and_not_retried(fake, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", "not-my-key")
    monkeypatch.setenv("APCA_API_SECRET_KEY", "not-my-secret")
    with pytest.raises(AlpacaError, match=r"refused the API keys \(HTTP 403: forbidden\.\).*APCA_API_KEY_ID") as err:
        alpaca(fake).read_raw("AAPL")
    assert err.value.status == 403
    assert len(fake.requests) == 1


def test_an_unknown_symbol_names_the_request_and_alpacas_reason(fake, keys):
    fake.reject_symbol("ZZZZ9")
    with pytest.raises(AlpacaError, match=r"symbols=ZZZZ9.*rejected the request \(HTTP 422: invalid symbol: ZZZZ9\)"):
        alpaca(fake, symbols=["ZZZZ9"]).read_raw("ZZZZ9")
    assert len(fake.requests) == 1


def test_an_unreachable_server_is_a_clear_error(keys):
    with FakeAlpaca() as gone:
        url = gone.url
    config = AlpacaConfig(url_override=url, retry_wait_seconds=0.001)
    with pytest.raises(AlpacaError, match=rf"cannot reach {url}.*url_override"):
        AlpacaSource(config, ["AAPL"], TUESDAY, FRIDAY).read_raw("AAPL")


# --- credentials -------------------------------------------------------------------------------


def test_stock_bars_without_keys_name_the_variables_to_set(fake):
    with pytest.raises(AlpacaCredentialsError, match="set APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment"):
        alpaca(fake).read_raw("AAPL")
    assert fake.requests == []


def test_a_missing_secret_is_named_alone_and_custom_variable_names_are_used(fake, monkeypatch):
    monkeypatch.setenv("MY_KEY", fake.key_id)
    with pytest.raises(AlpacaCredentialsError, match=r"set MY_SECRET in") as err:
        alpaca(fake, key_env="MY_KEY", secret_env="MY_SECRET").read_raw("AAPL")
    assert "MY_KEY" not in str(err.value).split("(")[0]

    monkeypatch.setenv("MY_SECRET", fake.secret_key)
    assert alpaca(fake, key_env="MY_KEY", secret_env="MY_SECRET").read_raw("AAPL").height == 24


def test_keys_cannot_be_put_in_the_config_file():
    with pytest.raises(ValidationError, match="api_key"):
        AlpacaConfig.model_validate({"api_key": "PK123"})


# --- crypto ------------------------------------------------------------------------------------


def test_crypto_bars_come_anonymously_from_the_crypto_route(fake):
    source = alpaca(fake, symbols=["BTC/USD"], asset_class="crypto", start=date(2024, 1, 6), end=date(2024, 1, 7))
    raw = source.read_raw("BTC/USD")

    want = served("BTC/USD", start=date(2024, 1, 6), end=date(2024, 1, 7), asset_class="crypto")
    assert len(want) == 48  # around the clock, weekend included
    assert raw["ts"].to_list() == as_text(want, "t")
    assert raw["volume"].to_list() == as_text(want, "v")
    (call,) = fake.requests
    assert call.path == CRYPTO_PATH
    assert call.query["symbols"] == "BTC/USD"
    assert "adjustment" not in call.query and "apca-api-key-id" not in call.headers
    assert raw["origin"][0].startswith("alpaca:crypto/us/bars?symbols=BTC/USD&timeframe=1Hour")

    clean = normalize_bars(raw, timezone=None)
    assert clean.bars.height == 48 and clean.quarantine.height == 0
    assert clean.bars["volume"].to_list() == [float(b["v"]) for b in want]


def test_crypto_sends_keys_when_they_are_set(fake, keys):
    alpaca(fake, symbols=["ETH/USD"], asset_class="crypto").read_raw("ETH/USD")
    assert fake.requests[0].headers["apca-api-key-id"] == fake.key_id


def test_crypto_with_only_one_of_the_keys_is_refused_before_any_request(fake, monkeypatch):
    monkeypatch.setenv("APCA_API_KEY_ID", fake.key_id)
    with pytest.raises(AlpacaCredentialsError, match="set APCA_API_SECRET_KEY"):
        alpaca(fake, symbols=["BTC/USD"], asset_class="crypto").read_raw("BTC/USD")
    assert fake.requests == []


# --- empty windows and normalization -----------------------------------------------------------


def test_a_window_without_bars_gives_an_empty_raw_frame(fake, keys):
    raw = alpaca(fake, start=date(2024, 1, 6), end=date(2024, 1, 7)).read_raw("AAPL")  # a weekend

    assert raw.height == 0
    assert raw.schema == pl.Schema(RAW_SCHEMA)
    clean = normalize_bars(raw, timezone=None)
    assert clean.bars.height == 0 and clean.quarantine.height == 0


def test_raw_bars_normalize_cleanly_without_a_configured_timezone(fake, keys):
    raw = alpaca(fake, timeframe="5Min", page_limit=100).read_raw("AAPL")
    clean = normalize_bars(raw, timezone=None, start=TUESDAY, end=FRIDAY)

    want = served(timeframe="5Min")
    assert clean.quarantine.height == 0 and clean.outside_window == 0
    bars = clean.bars
    assert bars.height == len(want) == 4 * 78
    assert bars["ts"][0] == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert bars["ts"].is_sorted() and bars["ts"].n_unique() == bars.height
    assert bars["close"].to_list() == [b["c"] for b in want]
    assert bars["symbol"].unique().to_list() == ["AAPL"]


# --- configuration and the source's own checks -------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("1Min", "1Min"), ("5Min", "5Min"), ("1Hour", "1Hour"), ("1Day", "1Day")])
def test_timeframes_map_to_alpaca_timeframes(text, value):
    assert AlpacaConfig(timeframe=text).alpaca_timeframe().value == value


@pytest.mark.parametrize("text", ["60Min", "0Min", "2Day", "1min", "1d", "5 Min", "1Sec"])
def test_timeframes_alpaca_does_not_take_are_refused(text):
    with pytest.raises(ValidationError, match="not an Alpaca timeframe"):
        AlpacaConfig(timeframe=text)


def test_stock_settings_are_refused_for_crypto():
    with pytest.raises(ValidationError, match="adjustment, feed apply to stocks only"):
        AlpacaConfig(asset_class="crypto", adjustment="all", feed="sip")


@pytest.mark.parametrize("settings", [{}, {"asset_class": "crypto"}, {"adjustment": "raw", "feed": "sip"}])
def test_a_config_dumps_and_reloads_unchanged(settings):
    config = AlpacaConfig(**settings)
    assert AlpacaConfig.model_validate(config.model_dump()) == config


def test_stocks_are_adjusted_for_splits_and_dividends_unless_told_otherwise(fake, keys):
    alpaca(fake).read_raw("AAPL")
    alpaca(fake, adjustment="raw").read_raw("AAPL")
    assert [c.query["adjustment"] for c in fake.requests] == ["all", "raw"]


def test_an_empty_universe_asks_for_data_symbols(fake):
    with pytest.raises(ValueError, match="data.symbols is empty"):
        alpaca(fake, symbols=[]).symbols()
    assert alpaca(fake, symbols=["MSFT", "AAPL"]).symbols() == ["AAPL", "MSFT"]


def test_a_missing_start_names_data_start_before_any_request(fake, keys):
    with pytest.raises(ValueError, match="data.start is not set"):
        alpaca(fake, start=None).read_raw("AAPL")
    assert fake.requests == []


def test_an_end_before_the_start_is_refused(fake):
    with pytest.raises(ValueError, match="data.start 2024-01-05 is after data.end 2024-01-02"):
        alpaca(fake, start=FRIDAY, end=TUESDAY)
