"""The OpenAI-compatible policy against a real HTTP server on 127.0.0.1, started by the test.

Last, a demo evaluation method run end to end on the `openai` backend, as
`evaluate.methods` can now name it.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from PIL import Image

from r1router.benchmarks.schema import Question
from r1router.errors import ConfigError
from r1router.evaluation.harness import evaluate_methods
from r1router.kb.hit import Hit
from r1router.router.backends import load_policy
from r1router.router.generation_config import GenerationConfig
from r1router.router.methods import make_method
from r1router.router.policy_openai import EndpointConfig, EndpointError, OpenAIPolicy
from r1router.router.profile import parse_router_config
from r1router.router.prompts import decompose_messages

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def echo(body):
    """The default reply: the last message's text, so a test sees what reached the server."""
    last = body["messages"][-1]["content"]
    return f"echo: {last if isinstance(last, str) else last[0]['text']}"


class LoopbackServer:
    """A threaded HTTP server on a free 127.0.0.1 port serving `handler`, for the `with` block."""

    def __init__(self, handler):
        handler.log_message = lambda *args: None
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


class Endpoint(LoopbackServer):
    """A chat-completions server that answers each request with the next scripted status, then `reply(body)`."""

    def __init__(self, statuses, reply=echo):
        self.statuses = list(statuses)
        self.requests = []  # (path, headers, body) of every request received
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append((self.path, dict(self.headers), body))
                status = endpoint.statuses.pop(0) if endpoint.statuses else 200
                if status == 200:
                    payload = {"choices": [{"message": {"role": "assistant", "content": reply(body)}}]}
                else:
                    payload = {"error": {"message": f"scripted {status}"}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

        super().__init__(Handler)


def config(url, **overrides):
    settings = {"base_url": url, "model": "teacher-7b", "api_key_env": "R1ROUTER_TEST_KEY", "backoff_s": 0.01}
    return EndpointConfig(**{**settings, **overrides})


def test_retries_a_503_then_sends_the_chat_with_our_settings_and_the_key(monkeypatch):
    monkeypatch.setenv("R1ROUTER_TEST_KEY", "sk-test-123")
    conversation = decompose_messages("Who directed Lantern?", [])
    with Endpoint([503]) as endpoint:
        policy = OpenAIPolicy(config(endpoint.url, concurrency=1))
        generation = GenerationConfig(max_new_tokens=48, do_sample=True, temperature=0.7, top_p=0.9, seed=5)
        [text] = policy.generate([conversation], generation)
    assert text == "echo: Origin question: Who directed Lantern?\n"
    assert len(endpoint.requests) == 2  # the 503, then the retry
    path, headers, body = endpoint.requests[1]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test-123"
    assert body == {
        "model": "teacher-7b",
        "messages": [
            {"role": "system", "content": conversation[0]["content"][0]["text"]},
            {"role": "user", "content": "Origin question: Who directed Lantern?\n"},
        ],
        "max_tokens": 48,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 5,
    }


def test_many_conversations_keep_their_order_and_429_is_retried(monkeypatch):
    monkeypatch.setenv("R1ROUTER_TEST_KEY", "k")
    conversations = [decompose_messages(f"Question number {i}?", []) for i in range(6)]
    with Endpoint([429, 500]) as endpoint:
        texts = OpenAIPolicy(config(endpoint.url, concurrency=3)).generate(conversations, GenerationConfig())
    assert texts == [f"echo: Origin question: Question number {i}?\n" for i in range(6)]
    assert len(endpoint.requests) == 8
    assert all(body["temperature"] == 0.0 and "top_p" not in body for _, _, body in endpoint.requests)


def test_a_client_error_fails_at_once_with_the_servers_message(monkeypatch):
    monkeypatch.setenv("R1ROUTER_TEST_KEY", "k")
    with Endpoint([404]) as endpoint, pytest.raises(EndpointError, match=r"HTTP 404: .*scripted 404"):
        OpenAIPolicy(config(endpoint.url)).generate([decompose_messages("Q?", [])], GenerationConfig())
    assert len(endpoint.requests) == 1


def test_gives_up_after_the_last_retry(monkeypatch):
    monkeypatch.setenv("R1ROUTER_TEST_KEY", "k")
    with Endpoint([502, 502, 502]) as endpoint, pytest.raises(EndpointError, match=r"after 2 retries .*HTTP 502"):
        policy = OpenAIPolicy(config(endpoint.url, max_retries=2))
        policy.generate([decompose_messages("Q?", [])], GenerationConfig())
    assert len(endpoint.requests) == 3


def test_connection_refused_is_retried_then_reported():
    with Endpoint([]) as endpoint:
        url = endpoint.url  # the server is closed below, so nothing listens on this port
    policy = OpenAIPolicy(config(url, api_key_env=None, max_retries=1))
    with pytest.raises(EndpointError, match=r"after 1 retries .*(Connection|refused)"):
        policy.generate([decompose_messages("Q?", [])], GenerationConfig())


def test_images_go_as_data_urls_to_a_multimodal_endpoint(tmp_path):
    image = tmp_path / "q.png"
    Image.new("RGB", (4, 4), "red").save(image)
    with Endpoint([]) as endpoint:
        policy = OpenAIPolicy(config(endpoint.url, api_key_env=None, multimodal=True))
        policy.generate([decompose_messages("What is this?", [], image=str(image))], GenerationConfig())
    _, headers, body = endpoint.requests[0]
    assert "Authorization" not in headers
    text, picture = body["messages"][1]["content"]
    assert text == {"type": "text", "text": "Origin question: What is this?\n"}
    assert picture["image_url"]["url"].startswith("data:image/png;base64,iVBOR")


def test_a_missing_key_or_bad_url_is_a_config_error(monkeypatch):
    monkeypatch.delenv("R1ROUTER_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match="R1ROUTER_TEST_KEY is not set"):
        OpenAIPolicy(config("http://127.0.0.1:1/v1"))
    with pytest.raises(ConfigError, match="http"):
        config("127.0.0.1:8000/v1")


class Redirect(LoopbackServer):
    """A server answering every POST with `status` and `Location: target` (an endpoint moved, or a hostile one)."""

    def __init__(self, status, target):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(status)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_never_receives_the_key(monkeypatch, status):
    monkeypatch.setenv("R1ROUTER_TEST_KEY", "sk-secret")
    with Endpoint([]) as elsewhere:
        other_host = elsewhere.url.replace("127.0.0.1", "localhost") + "/chat/completions"
        with Redirect(status, other_host) as moved:
            policy = OpenAIPolicy(config(moved.url, max_retries=0))
            with pytest.raises(EndpointError, match=f"HTTP {status} redirect to {other_host} refused"):
                policy.generate([decompose_messages("Who directed Lantern?", [])], GenerationConfig())
    assert elsewhere.requests == []  # neither the key nor the prompt reached the other host


def test_plain_http_is_for_this_machine_unless_allowed():
    for local in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        assert config(local).base_url == local
    with pytest.raises(ConfigError, match=r"plain http to another host.*allow_http"):
        config("http://10.0.0.5:8000/v1")
    assert config("http://10.0.0.5:8000/v1", allow_http=True).allow_http
    assert config("https://api.example.org/v1").base_url == "https://api.example.org/v1"


def test_a_demo_evaluation_method_runs_on_the_openai_backend(tmp_path):
    """`rag-text: {backend: openai, endpoint: ...}`: the demo's router loop, prompts and harness, a served model."""
    demo = parse_router_config(yaml.safe_load(PARAMS.read_text())["profiles"]["demo"]["router"])
    questions = [
        Question("q1", "Who directed The Copper Lantern?", ["Mara Ellison"], "demo_2wikimultihopqa"),
        Question("q2", "Who wrote Winter Orchard?", ["Ivo Brandt"], "demo_2wikimultihopqa"),
    ]
    searched = []

    def search(kb, queries, images, k):
        searched.append((kb, k))
        return [
            [Hit(kb, f"{kb}-{i}", 1.0, f"The Copper Lantern was directed by Mara Ellison. ({query})")]
            for i, query in enumerate(queries)
        ]

    def answer(body):
        return "<think>The passage says so.</think>\n<answer>Mara Ellison</answer>\nand then it rambles on"

    with Endpoint([], reply=answer) as endpoint:
        value = {"backend": "openai", "endpoint": {"base_url": endpoint.url, "model": "served-7b", "backoff_s": 0.01}}
        spec = demo.policy_spec(value, "evaluate.methods.rag-text")
        method = make_method("rag-text", load_policy(spec), search, demo.loop, ("text", "table", "image"))
        results = evaluate_methods(
            {"rag-text": method}, {"demo_2wikimultihopqa": questions}, None, tmp_path, demo.loop.max_steps
        )
    assert searched == [("text", demo.loop.k)]
    assert len(endpoint.requests) == 2  # one answer per question: demo has no retries
    bodies = [body for _, _, body in endpoint.requests]
    assert {body["max_tokens"] for body in bodies} == {demo.loop.answer.max_new_tokens}
    assert all(body["model"] == "served-7b" and body["temperature"] == 0.0 for body in bodies)
    assert any("directed by Mara Ellison" in body["messages"][-1]["content"] for body in bodies)
    metrics = results["demo_2wikimultihopqa"]["rag-text"]
    assert metrics["questions"] == 2 and metrics["f1_recall"] == 50.0
    lines = (tmp_path / "demo_2wikimultihopqa" / "rag-text.jsonl").read_text().splitlines()
    assert [json.loads(line)["llm_answer"] for line in lines] == ["Mara Ellison", "Mara Ellison"]
