from tunewise import DataError, ProviderError, RateLimitError
from tunewise._secrets import get_logger, redact, register_secret


def test_data_error_names_file_line_and_field() -> None:
    err = DataError("unrecognized role 'bot'", path="train.jsonl", line=12, field="messages[1].role")
    assert str(err) == "train.jsonl:12: messages[1].role: unrecognized role 'bot'"
    assert (err.path, err.line, err.field) == ("train.jsonl", 12, "messages[1].role")


def test_provider_error_carries_status_and_request_id() -> None:
    err = ProviderError("model overloaded", status=503, request_id="req_123", provider="openai")
    assert str(err) == "openai: model overloaded (status 503, request id req_123)"
    assert not err.retryable
    limited = RateLimitError("slow down", retry_after=2.5, provider="openai")
    assert limited.retryable and limited.retry_after == 2.5 and limited.status == 429


def test_redact_removes_registered_and_pattern_keys() -> None:
    register_secret("my-very-private-token")
    text = "auth failed for my-very-private-token with sk-proj-abcdefghijklmnop and Bearer abcdefghijkl"
    cleaned = redact(text)
    assert "my-very-private-token" not in cleaned
    assert "sk-proj" not in cleaned and "abcdefghijkl" not in cleaned
    assert cleaned.count("[REDACTED]") == 3


def test_tunewise_loggers_redact(caplog: object) -> None:
    import logging

    register_secret("another-secret-value")
    log = get_logger("tunewise.test")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect()
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.info("calling with key %s", "another-secret-value")
    finally:
        log.removeHandler(handler)
    assert records == ["calling with key [REDACTED]"]


def test_small_jsonl_files_fail_on_one_line_naming_file_and_line(tmp_path: object) -> None:
    from pathlib import Path

    import pytest

    from tunewise._jsonl import iter_jsonl_objects

    path = Path(str(tmp_path)) / "cases.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n{"b": 2}\n\xff\xfe oops\n')
    rows = iter_jsonl_objects(path)
    assert next(rows) == (1, {"a": 1})  # a BOM on the first line is fine
    assert next(rows) == (3, {"b": 2})
    with pytest.raises(DataError, match=r"cases\.jsonl:4: invalid UTF-8 at byte 0"):
        next(rows)
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"cases\.jsonl:2: each line must be a JSON object"):
        list(iter_jsonl_objects(path))
    path.write_text('{"a": \n')
    with pytest.raises(DataError, match=r"cases\.jsonl:1: invalid JSON"):
        list(iter_jsonl_objects(path))
