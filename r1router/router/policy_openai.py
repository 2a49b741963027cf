"""A policy behind an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp server, a hosted API).

This is how the paper's large teachers run for trajectory synthesis, and how
any evaluated method or `r1router ask` can run on a served model (backend
`openai`, `r1router.router.backends`): the server does the batching, so
requests go out concurrently and the server batches them. Only the standard
library is used (`urllib`), so no SDK version is pinned by the project, and
no ML framework is imported.

Transient failures (connection errors, HTTP 429 and 5xx) are retried with
exponential backoff, honouring `Retry-After`; any other 4xx is a request the
server will never accept (bad model name, bad key), so it fails at once with
the server's message.

Credentials never leave the configured endpoint: redirects are refused
(urllib would forward `Authorization` to whatever host a 3xx names), and a
non-loopback endpoint must be https unless `allow_http` says otherwise.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import mimetypes
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from r1router.errors import ConfigError, R1RouterError
from r1router.progress import Progress
from r1router.router.generation_config import Conversation, GenerationConfig, cut_at_stop, flatten_text

log = logging.getLogger(__name__)


class EndpointError(R1RouterError):
    """The endpoint refused a request, or kept failing after every retry."""


@dataclass(frozen=True)
class EndpointConfig:
    """Where the served model is, and how hard to try: the params.yaml `endpoint` section of an `openai` policy."""

    base_url: str  # e.g. http://127.0.0.1:8000/v1 (the part before /chat/completions)
    model: str
    api_key_env: str | None = None  # name of the env var holding the key; None: send no key (a local server)
    multimodal: bool = False  # send image parts as data URLs (a vision-language model behind the endpoint)
    concurrency: int = 8  # requests in flight at once
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_s: float = 1.0  # first wait; doubles on each retry
    allow_http: bool = False  # plain http to a host other than this machine (prompts and key in clear)

    def __post_init__(self) -> None:
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"endpoint base_url must be an http(s) URL, got {self.base_url!r}")
        if url.scheme == "http" and not self.allow_http and not _is_loopback(url.hostname):
            raise ConfigError(
                f"endpoint base_url {self.base_url!r} is plain http to another host: prompts and the API key "
                "would travel in clear; use https, or set `allow_http: true` for a trusted network"
            )
        if self.concurrency < 1 or self.max_retries < 0 or self.backoff_s < 0:
            raise ConfigError("concurrency must be >= 1, max_retries and backoff_s >= 0")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an error naming its target: following it would send the API key to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise EndpointError(
            f"{req.full_url}: HTTP {code} redirect to {newurl} refused (requests carry the API key); "
            "set base_url to the endpoint's final address"
        )


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def endpoint_config(params: Mapping[str, Any], where: str) -> EndpointConfig:
    """EndpointConfig from a params.yaml `endpoint` section; a misspelt key is a ConfigError naming `where`."""
    known = {field.name for field in fields(EndpointConfig)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown} (known: {sorted(known)})")
    missing = sorted({"base_url", "model"} - set(params))
    if missing:
        raise ConfigError(f"{where}: missing {missing}")
    try:
        return EndpointConfig(**params)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from error


def _image_url(image: Any) -> str:
    """An image part's value (a path) as a data URL: a remote server cannot read our files."""
    path = Path(image)
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def to_openai_messages(conversation: Conversation, multimodal: bool) -> list[dict[str, Any]]:
    """Our content-part chats in the OpenAI shape; a text-only endpoint gets plain strings (images dropped)."""
    if not multimodal:
        return flatten_text(conversation)
    messages = []
    for message in conversation:
        parts = []
        for part in message["content"]:
            if part["type"] == "text":
                parts.append({"type": "text", "text": part["text"]})
            else:
                parts.append({"type": "image_url", "image_url": {"url": _image_url(part["image"])}})
        messages.append({"role": message["role"], "content": parts})
    return messages


class OpenAIPolicy:
    """`Policy` over `POST {base_url}/chat/completions`, one request per conversation, `concurrency` at a time."""

    def __init__(self, config: EndpointConfig):
        self.config = config
        self.multimodal = config.multimodal
        self.api_key = None
        if config.api_key_env is not None:
            self.api_key = os.environ.get(config.api_key_env)
            if not self.api_key:
                raise ConfigError(f"endpoint API key: environment variable {config.api_key_env} is not set")

    def generate(self, conversations: list[Conversation], config: GenerationConfig) -> list[str]:
        if not conversations:
            return []
        with (
            Progress(len(conversations), "generate (endpoint)", unit="req") as progress,
            ThreadPoolExecutor(max_workers=self.config.concurrency) as pool,
        ):

            def one(conversation: Conversation) -> str:
                # Cut here, not by the API's `stop`: the OpenAI API drops the stop string, which the parser needs.
                text = cut_at_stop(self._complete(conversation, config), config.stop_strings)
                progress.update()
                return text

            return list(pool.map(one, conversations))

    def request_body(self, conversation: Conversation, config: GenerationConfig) -> dict[str, Any]:
        """Sampling settings are ours, never the server's defaults (see GenerationConfig)."""
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": to_openai_messages(conversation, self.multimodal),
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature if config.do_sample else 0.0,
            "seed": config.seed,
        }
        if config.do_sample:
            body["top_p"] = config.top_p
            if config.top_k > 0:
                body["top_k"] = config.top_k  # vLLM's extension; hosted APIs ignore it
        return body

    def _complete(self, conversation: Conversation, config: GenerationConfig) -> str:
        url = self.config.base_url.rstrip("/") + "/chat/completions"
        data = json.dumps(self.request_body(conversation, config)).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        for attempt in range(self.config.max_retries + 1):
            wait = self.config.backoff_s * 2**attempt
            try:
                request = urllib.request.Request(url, data=data, headers=headers, method="POST")
                with _OPENER.open(request, timeout=self.config.timeout_s) as response:
                    return _content(json.loads(response.read()), url)
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:500]
                if exc.code != 429 and exc.code < 500:
                    raise EndpointError(f"{url}: HTTP {exc.code}: {detail}") from None
                error = f"HTTP {exc.code}: {detail}"
                retry_after = exc.headers.get("Retry-After", "")
                wait = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else wait
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            if attempt == self.config.max_retries:
                break
            log.warning("%s: %s; retry %d/%d in %.1fs", url, error, attempt + 1, self.config.max_retries, wait)
            time.sleep(wait)
        raise EndpointError(f"{url}: still failing after {self.config.max_retries} retries ({error})")


def _content(payload: dict[str, Any], url: str) -> str:
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise EndpointError(f"{url}: not a chat completion response: {json.dumps(payload)[:300]}") from None
    return content or ""
