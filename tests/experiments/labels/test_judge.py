"""The LLM judge against a real local HTTP server: replies, cache, retries, failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from activation_store.core.errors import InputError
from experiments.labels import JudgeConfig, JudgeLabeller, LabelRequest
from experiments.labels.judge_http import JudgeError, JudgeUnavailable
from experiments.labels.judge_prompt import MalformedReply, parse_reply
from tests.experiments.labels.judge_server import JudgeServer

ITEMS = [
    LabelRequest(
        "What is 35 + 18?", ("First, 5 + 8 = 13.", "Wait, carry 1.", "So 53.", "Hmm, right.")
    ),
    LabelRequest("What is 2 + 2?", ("2 + 2 = 4.", "But wait, check it.", "Yes, 4.")),
]
EXPECTED = [
    ["deduction", "backtracking", "deduction", "backtracking"],
    ["deduction", "backtracking", "deduction"],
]
ENV = {"JUDGE_KEY": "sk-test"}


def judge(server: JudgeServer, tmp_path: Path, **kwargs) -> JudgeLabeller:
    settings = {
        "url": server.url, "model": "judge-1", "api_key_env": "JUDGE_KEY", "max_sentences": 2,
        "timeout_s": 2.0, "backoff_s": 0.01, "max_retries": 2, "cache_dir": str(tmp_path / "cache"),
    }  # fmt: skip
    settings.update(kwargs)
    return JudgeLabeller(JudgeConfig(**settings), environ=ENV, progress=False)


def test_labels_key_header_and_a_cache_that_makes_reruns_free(tmp_path: Path) -> None:
    with JudgeServer() as server:
        assert judge(server, tmp_path).label_many(ITEMS) == EXPECTED
        assert len(server.bodies) == 4  # ceil(4/2) + ceil(3/2) requests
        assert set(server.auth) == {"Bearer sk-test"}
        assert server.bodies[0]["model"] == "judge-1" and server.bodies[0]["temperature"] == 0.0
        second = next(
            b["messages"][-1]["content"]
            for b in server.bodies
            if "[3] So 53." in b["messages"][-1]["content"]
        )
        assert "do not label them):\n[1] First, 5 + 8 = 13.\n[2] Wait, carry 1.\n" in second
        again = judge(server, tmp_path)
        assert again.label_many(ITEMS) == EXPECTED
        assert len(server.bodies) == 4 and again.stats["cached"] == 4
        judge(server, tmp_path, model="judge-2").label_many(ITEMS)  # the model is part of the key
        assert len(server.bodies) == 8


@pytest.mark.parametrize(
    "first",
    [
        ("status", 429, 0),
        ("status", 500, None),
        ("status", 503, None),
        ("sleep", 0.6),
        ("content", "The labels are: deduction"),
        ("raw", b"<html>oops"),
    ],
)
def test_transient_failures_and_one_malformed_reply_are_retried(tmp_path: Path, first) -> None:
    script = lambda n: first if n == 0 else ("ok",)  # noqa: E731
    with JudgeServer(script) as server:
        got = judge(server, tmp_path, timeout_s=0.3).label_many(ITEMS[:1])
        assert got == EXPECTED[:1]
        assert len(server.bodies) == 3  # two requests, the first of them retried once


def test_garbage_until_the_end_leaves_sentences_unlabelled_and_uncached(tmp_path: Path) -> None:
    garbage = [
        "not json",
        '{"labels": {"1": "deduction"}}',
        '{"labels": {"1": "guessing", "2": "deduction"}}',
    ]
    with JudgeServer(lambda n: ("content", garbage[n % 3]) if n < 3 else ("ok",)) as server:
        labeller = judge(server, tmp_path, concurrency=1)
        assert labeller.label_many(ITEMS[:1]) == [[None, None, "deduction", "backtracking"]]
        assert labeller.stats["unlabelled_sentences"] == 2
        assert labeller.label_many(ITEMS[:1]) == EXPECTED[:1]  # the failed request is asked again


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    config = JudgeConfig(
        url=f"http://127.0.0.1:{_closed_port()}/v1", api_key_env="", backoff_s=0.01, max_retries=1,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    with pytest.raises(
        JudgeUnavailable, match=r"unavailable after 2 tries: cannot reach .* check --url"
    ):
        JudgeLabeller(config, progress=False).label_many(ITEMS)


@pytest.mark.parametrize(
    ("code", "match", "n_requests"),
    [
        (401, "refused the API key .* JUDGE_KEY", 1),
        (403, "refused the API key", 1),
        (400, "rejected the request", 4),  # each response_format form, then none
    ],
)
def test_client_errors_are_not_retried(
    tmp_path: Path, code: int, match: str, n_requests: int
) -> None:
    with JudgeServer(lambda n: ("status", code, None)) as server:
        with pytest.raises(JudgeError, match=match):
            judge(server, tmp_path, concurrency=1).label_many(ITEMS[:1])
        assert len(server.bodies) == n_requests
        assert [_format(b) for b in server.bodies] == FORMS[:n_requests]


FORMS = ["json_schema", "json_object+schema", "json_object", None]


def _format(body: dict) -> str | None:
    form = body.get("response_format") or {}
    return (form.get("type") or "") + ("+schema" if "schema" in form else "") or None


@pytest.mark.parametrize(
    ("refused", "formats"),
    [
        ((), ["json_schema", "json_schema"]),
        (("json_schema",), ["json_schema", "json_object+schema", "json_object+schema"]),
        (("json_schema", "json_object"), ["json_schema", *FORMS[1:], None]),
    ],
)
@pytest.mark.parametrize("status", [400, 422, 500])
def test_structured_output_is_asked_for_and_the_mode_that_works_is_kept(
    tmp_path: Path, refused: tuple[str, ...], formats: list[str | None], status: int
) -> None:
    with JudgeServer(refuse_formats=refused, refuse_status=status) as server:
        labeller = judge(server, tmp_path, concurrency=1)
        assert labeller.label_many(ITEMS[:1]) == EXPECTED[:1]
        assert [_format(b) for b in server.bodies] == formats  # two requests, after the fallbacks
        mode = {"json_object+schema": "json_object_schema", None: "none"}.get(formats[-1])
        assert labeller.stats["response_format"] == (mode or formats[-1])
        schema = server.bodies[0]["response_format"]["json_schema"]["schema"]
        labels = schema["properties"]["labels"]
        assert labels["required"] == ["1", "2"]
        assert "backtracking" in labels["properties"]["1"]["enum"]


def test_a_malformed_reply_is_retried_with_a_repair_turn(tmp_path: Path) -> None:
    bad = '{"labels": {"1": "deduction"}}'
    with JudgeServer(lambda n: ("content", bad) if n == 0 else ("ok",)) as server:
        assert judge(server, tmp_path, concurrency=1).label_many(ITEMS[:1]) == EXPECTED[:1]
        first, retry = server.bodies[0]["messages"], server.bodies[1]["messages"]
        assert retry[: len(first)] == first  # the same request, then the repair turn
        assert retry[len(first)] == {"role": "assistant", "content": bad}
        repair = retry[len(first) + 1]
        assert repair["role"] == "user"
        assert "expected 1…2" in repair["content"] and "sentences 1 to 2" in repair["content"]
        assert len(server.bodies[2]["messages"]) == len(first)  # the next request starts afresh


def test_a_wrong_base_url_says_so(tmp_path: Path) -> None:
    with (
        JudgeServer() as server,
        pytest.raises(JudgeError, match=r"no chat-completions endpoint .* ending in /v1"),
    ):
        judge(server, tmp_path, url=server.url.removesuffix("/v1")).label_many(ITEMS[:1])


def test_missing_api_key_fails_before_any_request_unless_all_is_cached(tmp_path: Path) -> None:
    with JudgeServer() as server:
        keyless = JudgeLabeller(
            JudgeConfig(
                url=server.url, api_key_env="NOT_SET_ANYWHERE", cache_dir=str(tmp_path / "c")
            ),
            environ={},
            progress=False,
        )
        with pytest.raises(InputError, match="API key variable NOT_SET_ANYWHERE is not set"):
            keyless.label_many(ITEMS)
        assert server.bodies == []
        JudgeLabeller(
            JudgeConfig(url=server.url, api_key_env="", cache_dir=str(tmp_path / "c")),
            progress=False,
        ).label_many(ITEMS)
        assert keyless.label_many(ITEMS) == [
            ["deduction", "backtracking", "deduction", "backtracking"],
            EXPECTED[1],
        ]


def test_concurrency_is_limited(tmp_path: Path) -> None:
    with JudgeServer(lambda n: ("sleep", 0.15)) as server:
        items = [LabelRequest(f"q{i}", ("One.", "Two.")) for i in range(6)]
        judge(server, tmp_path, concurrency=2).label_many(items)
        assert server.max_active == 2 and len(server.bodies) == 6


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"labels": {"3": "Deduction", "4": "adding_knowledge"}}',
            ["deduction", "adding-knowledge"],
        ),
        (
            '```json\n{"labels": {"3": "backtracking", "4": "Example Testing"}}\n```',
            ["backtracking", "example-testing"],
        ),
    ],
)
def test_parse_accepts_only_the_requested_format(content: str, expected: list[str]) -> None:
    assert parse_reply(content, 3, 2) == expected


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("deduction, backtracking", "not JSON"),
        ('["deduction", "backtracking"]', 'not an object with a "labels" object'),
        ('{"labels": {"3": "deduction"}}', "expected 3…4"),
        ('{"labels": {"3": "deduction", "4": "deduction", "5": "deduction"}}', "expected 3…4"),
        ('{"labels": {"3": "deduction", "4": "musing"}}', "'musing' is not one of the six"),
        ('{"labels": {"3": "deduction", "4": 6}}', "is not one of the six"),
    ],
)
def test_parse_rejects_everything_else(content: str, match: str) -> None:
    with pytest.raises(MalformedReply, match=match):
        parse_reply(content, 3, 2)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_cross_origin_redirect_is_refused_and_gets_no_credentials(
    tmp_path: Path, code: int
) -> None:
    with JudgeServer() as other:
        target = other.url + "/chat/completions"
        with JudgeServer(lambda n: ("redirect", code, target)) as server:
            with pytest.raises(JudgeError, match=rf"redirected .* to {target}, another origin"):
                judge(server, tmp_path, concurrency=1).label_many(ITEMS[:1])
            assert len(server.bodies) == 1  # not retried either
        assert other.requests == []  # nothing at all reached the other origin


def test_a_same_origin_redirect_is_followed_with_the_request(tmp_path: Path) -> None:
    def script(n: int) -> tuple[object, ...]:
        return ("redirect", 307, "/v1/moved/chat/completions") if n == 0 else ("ok",)

    with JudgeServer(script) as server:
        got = judge(server, tmp_path, concurrency=1).label_many(ITEMS[:1])
        assert got == EXPECTED[:1]
        assert [r[:2] for r in server.requests[:2]] == [
            ("POST", "/v1/chat/completions"),
            ("POST", "/v1/moved/chat/completions"),
        ]
        assert set(server.auth) == {"Bearer sk-test"}
