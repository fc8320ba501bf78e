"""`alignpipe serve MODEL`: an OpenAI-compatible HTTP server for any model alignpipe loads.

    alignpipe serve runs/minigpt/dpo                      # http://127.0.0.1:8000/v1
    alignpipe serve runs/smollm2-135m/grpo --port 8080 --api-key "$KEY" --guard runs/guard

    curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model": "dpo", "messages": [{"role": "user", "content": "What is 17 + 25?"}], "max_tokens": 32}'

Built on `transformers serve` (Transformers 5.23: FastAPI + uvicorn, its OpenAI routes, request handlers,
streaming and its single inference thread). What alignpipe adds, and why:

- **Loading**: `transformers serve` instantiates `getattr(transformers, config.architectures[0])`, which
  cannot load MiniGPT (registered with the Auto classes, not a class of the `transformers` namespace), a LoRA
  adapter on its base, an imported GGUF file, or a `pypi:` reference. The model is loaded here by
  `alignpipe.inference.loading` (exactly what eval and chat load, any precision) and handed to transformers'
  `ModelManager` already loaded; the server is pinned to it.
- **Routes**: `/v1/models`, `/v1/chat/completions` (streamed as server-sent events, or not), `/v1/completions`,
  `/health`. `temperature` (0 = greedy), `top_p`, `max_tokens`, `stop`, `seed` map onto generation; `n` (up
  to 8, unstreamed) gives n choices, choice i generated with seed + i. The model's name in requests is `--served-model-name` (default:
  the model folder's name).
- **Seeds under concurrency**: transformers seeds torch when a request arrives, so concurrent sampled
  requests share one random stream. Here the seed travels with the request and is applied on the inference
  thread right before that request's `generate`: the same seed gives the same text alone or among 16 clients.
- **Errors**: a bad request (unknown model, malformed JSON, an out-of-range sampling value, a prompt that does
  not fit the context with `max_tokens`) is a 4xx with an OpenAI-style body `{"error": {"message", "type",
  "param", "code"}}`, and the server keeps serving.
- **Guard** (`--guard DIR`): the last user message is screened; a flagged one gets the guard's refusal
  without calling the model, marked `"alignpipe_guard": {"flagged": true, "score": p}` in the response.
- **Security**: binds 127.0.0.1 unless `--host` says otherwise; `--api-key KEY` (or `ALIGNPIPE_API_KEY`)
  requires `Authorization: Bearer KEY` on every route but `/health`.

A port in use or a model that does not load is one line, exit 2. Arguments are checked before torch loads.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from pathlib import Path

from alignpipe.core.errors import AlignpipeError
from alignpipe.core.log import echo
from alignpipe.serve.session import add_model_args, check_model_args

DEFAULT_MAX_TOKENS = 256
MAX_N = 8  # answers per request (`n`): each one a generation of its own, seeded seed, seed + 1, ...


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="alignpipe serve", description="Serve a model over an OpenAI-compatible HTTP API."
    )
    add_model_args(p)
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s, this machine only)"
    )
    p.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    p.add_argument(
        "--api-key", help="require `Authorization: Bearer KEY` (default: $ALIGNPIPE_API_KEY, else none)"
    )
    p.add_argument("--served-model-name", help="the model's name in requests (default: the folder's name)")
    p.add_argument(
        "--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, help="default max_tokens (default: %(default)s)"
    )
    return p


def check_port(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            raise AlignpipeError(
                f"cannot listen on {host}:{port}: {e.strerror}; choose another --port"
            ) from None


# --------------------------------------------------------------------------- errors in OpenAI's shape


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None):
    from fastapi.responses import JSONResponse

    kind = {401: "authentication_error", 404: "not_found_error"}.get(status, "invalid_request_error")
    if status >= 500:
        kind = "server_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class RequestError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


def check_sampling_request(body: dict, context: int | None, prompt_tokens: int, default_max: int) -> int:
    """The request's sampling values, checked as OpenAI's API does; returns its max new tokens."""
    checks = (
        ("temperature", lambda v: 0 <= v <= 2, "must be between 0 and 2"),
        ("top_p", lambda v: 0 < v <= 1, "must be in (0, 1]"),
        ("max_tokens", lambda v: v >= 1, "must be at least 1"),
        ("max_completion_tokens", lambda v: v >= 1, "must be at least 1"),
        ("n", lambda v: isinstance(v, int) and 1 <= v <= MAX_N, f"must be an integer from 1 to {MAX_N}"),
        ("seed", lambda v: isinstance(v, int), "must be an integer"),
    )
    for name, ok, expected in checks:
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            raise RequestError(400, f"{name} {expected}, got {value!r}", param=name, code="invalid_value")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise RequestError(
            400, "stop must be a string or a list of strings", param="stop", code="invalid_value"
        )
    new = body.get("max_completion_tokens") or body.get("max_tokens") or default_max
    if context is not None and prompt_tokens + new > context:
        raise RequestError(
            400,
            f"this model's context is {context} tokens; the prompt has {prompt_tokens} and max_tokens asks for "
            f"{new} more: shorten the prompt or lower max_tokens",
            param="messages",
            code="context_length_exceeded",
        )
    return int(new)


# --------------------------------------------------------------------------- the app


def build_app(lm, name: str, *, guard=None, api_key: str | None = None, max_tokens: int = DEFAULT_MAX_TOKENS):
    """The FastAPI app: transformers' server with `lm` (an `alignpipe.inference.loading.Loaded`) preloaded."""
    import torch
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException as StarletteHTTPException
    from transformers.cli.serving.chat_completion import ChatCompletionHandler
    from transformers.cli.serving.completion import CompletionHandler
    from transformers.cli.serving.model_manager import ModelManager
    from transformers.cli.serving.response import ResponseHandler
    from transformers.cli.serving.server import build_server
    from transformers.cli.serving.systemone import SystemOneHandler
    from transformers.cli.serving.transcription import TranscriptionHandler
    from transformers.cli.serving.utils import GenerationState

    from alignpipe.inference.generation import max_positions, stop_token_ids
    from alignpipe.inference.guard import REFUSAL

    model, tokenizer = lm.model, lm.tokenizer
    context = max_positions(model)
    stops = stop_token_ids(model, tokenizer)
    model.generation_config.eos_token_id = stops  # every stop token ends an answer, as in chat and eval
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    created = int(time.time())

    real_generate = model.generate

    def seeded_generate(*args, **kwargs):
        """Runs on the inference thread, one request at a time: the request's seed, then its generation."""
        seed = getattr(kwargs.get("generation_config"), "alignpipe_seed", None)
        if seed is not None:
            torch.manual_seed(seed)
        return real_generate(*args, **kwargs)

    model.generate = seeded_generate

    class Manager(ModelManager):
        """transformers' model manager, pinned to the one model alignpipe loaded."""

        def __init__(self):
            super().__init__(device="cpu", dtype="auto", model_timeout=-1)
            self.force_model = name

        def load_model_and_processor(
            self, model_id_and_revision, progress_callback=None, tqdm_class=None, gguf_file=None
        ):
            return model, tokenizer

        def get_gen_models(self, cache_dir=None):
            return [{"id": name, "object": "model", "created": created, "owned_by": "alignpipe"}]

        def shutdown(self):
            pass

    class Pinned:
        """What both handlers add: the pinned model's name, checked requests, per-request seeds, the guard."""

        def _resolve_model(self, body):
            requested = body.get("model")
            if requested is not None and requested != name:
                raise RequestError(
                    404,
                    f"the model {requested!r} does not exist; this server serves {name!r}",
                    "model",
                    "model_not_found",
                )
            body["model"] = name
            return name, model, tokenizer

        def _build_generation_config(self, body, model_generation_config, use_cb=False):
            seed = body.pop("seed", None)
            config = super()._build_generation_config(body, model_generation_config, use_cb=use_cb)
            config.alignpipe_seed = 0 if seed is None else int(seed)
            if body.get("max_tokens") is None and body.get("max_completion_tokens") is None:
                config.max_new_tokens = max_tokens
            temperature, top_p = body.get("temperature"), body.get("top_p")
            if temperature == 0:  # OpenAI's greedy
                config.do_sample, config.temperature, config.top_p, config.top_k = False, None, None, None
            elif temperature is not None or top_p is not None:  # sampling, whatever the model's own default
                config.do_sample = True
            return config

    class Chat(Pinned, ChatCompletionHandler):
        async def handle_request(self, body, request_id):
            self._validate_request(body)
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise RequestError(400, "messages must be a non-empty list of {role, content}", "messages")
            self._resolve_model(body)
            try:
                ids = tokenizer.apply_chat_template(
                    messages, add_generation_prompt=True, tokenize=True, return_dict=True
                )["input_ids"]
            except (TypeError, ValueError, KeyError, AttributeError) as e:  # a malformed message
                raise RequestError(
                    400, f"messages cannot be rendered with the model's chat template: {e}", "messages"
                ) from None
            check_sampling_request(body, context, len(ids), max_tokens)
            if guard is not None:
                last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
                if isinstance(last, str):
                    verdict = guard.screen([last])[0]
                    if verdict.flagged:
                        return self._refusal(body, request_id, verdict, len(ids))
            n = body.pop("n", None) or 1
            if n == 1:
                return await super().handle_request(body, request_id)
            if body.get("stream"):
                raise RequestError(
                    400, "n > 1 is answered unstreamed; drop stream or ask for one answer", "n"
                )
            return await self._several(body, request_id, n)

        async def _several(self, body, request_id, n):
            """`n` answers: the request generated n times with seeds seed, seed + 1, ... (choice i is what a
            request with seed + i alone gets), returned as one completion with n choices."""
            from fastapi.responses import JSONResponse

            seed, first, choices, completion_tokens = body.get("seed") or 0, None, [], 0
            for i in range(n):
                reply = json.loads(
                    (await super().handle_request({**body, "seed": seed + i}, request_id)).body
                )
                first = first or reply
                choices.append({**reply["choices"][0], "index": i})
                completion_tokens += reply["usage"]["completion_tokens"]
            usage = {**first["usage"], "completion_tokens": completion_tokens}
            usage["total_tokens"] = usage["prompt_tokens"] + completion_tokens
            return JSONResponse({**first, "choices": choices, "usage": usage})

        def _refusal(self, body, request_id, verdict, prompt_tokens):
            from fastapi.responses import JSONResponse, StreamingResponse

            mark = {"flagged": True, "score": round(float(verdict.score), 4)}
            base = {"id": request_id, "created": int(time.time()), "model": name, "alignpipe_guard": mark}
            if body.get("stream"):

                def events():
                    delta = {"role": "assistant", "content": REFUSAL}
                    chunk = {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                    end = {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter"}],
                    }
                    yield f"data: {json.dumps(end)}\n\n"
                    yield "data: [DONE]\n\n"

                return StreamingResponse(events(), media_type="text/event-stream")
            message = {"role": "assistant", "content": REFUSAL}
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "total_tokens": prompt_tokens}
            return JSONResponse(
                {
                    **base,
                    "object": "chat.completion",
                    "usage": usage,
                    "choices": [{"index": 0, "message": message, "finish_reason": "content_filter"}],
                }
            )

    class Completion(Pinned, CompletionHandler):
        async def handle_request(self, body, request_id):
            self._validate_request(body)
            prompt = body.get("prompt")
            if not isinstance(prompt, str) or not prompt:
                raise RequestError(400, "prompt must be a non-empty string", "prompt")
            self._resolve_model(body)
            check_sampling_request(body, context, len(tokenizer(prompt)["input_ids"]), max_tokens)
            if guard is not None:
                verdict = guard.screen([prompt])[0]
                if verdict.flagged:
                    raise RequestError(
                        400,
                        "the guard flagged this prompt as unsafe; the model was not called",
                        "prompt",
                        "content_filter",
                    )
            return await super().handle_request(body, request_id)

    manager, state = Manager(), GenerationState(continuous_batching=False, compile=False)
    app = build_server(
        manager,
        Chat(manager, state),
        completion_handler=Completion(manager, state),
        response_handler=ResponseHandler(manager, state),
        transcription_handler=TranscriptionHandler(manager, state),
        systemone_handler=SystemOneHandler(manager, state),
        generation_state=state,
    )
    # only the OpenAI routes this server documents (and /health); the rest of transformers' app is left out
    keep = {"/v1/models", "/v1/chat/completions", "/v1/completions", "/health"}
    app.router.routes = [
        r for r in app.router.routes if getattr(r, "path", None) in keep or not hasattr(r, "methods")
    ]

    @app.exception_handler(RequestError)
    async def _request_error(_request: Request, e: RequestError):
        return openai_error(e.status, e.message, param=e.param, code=e.code)

    @app.exception_handler(StarletteHTTPException)  # fastapi's HTTPException and unknown routes alike
    async def _http_error(_request: Request, e: StarletteHTTPException):
        return openai_error(e.status_code, str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def _malformed(_request: Request, e: RequestValidationError):
        return openai_error(
            400, f"the request body is not a JSON object: {e.errors()[0].get('msg', e)}", code="invalid_json"
        )

    @app.middleware("http")
    async def _authorize(request: Request, call_next):
        wanted = f"Bearer {api_key}"
        if api_key and request.url.path != "/health" and request.headers.get("authorization") != wanted:
            return openai_error(
                401, "missing or wrong API key (send Authorization: Bearer KEY)", code="invalid_api_key"
            )
        return await call_next(request)

    return app


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_model_args(args)
    if not 0 < args.port < 65536:
        raise AlignpipeError(f"--port must be in 1..65535, got {args.port}")
    if args.max_tokens < 1:
        raise AlignpipeError(f"--max-tokens must be >= 1, got {args.max_tokens}")
    api_key = args.api_key or os.environ.get("ALIGNPIPE_API_KEY") or None
    check_port(args.host, args.port)
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise AlignpipeError(
            "alignpipe serve needs FastAPI and uvicorn: pip install 'alignpipe[serve]'"
        ) from None

    from alignpipe.serve.session import open_session

    session = open_session(args)
    name = args.served_model_name or Path(str(args.model).rstrip("/")).name
    app = build_app(session.lm, name, guard=session.guard, api_key=api_key, max_tokens=args.max_tokens)
    echo(
        f"alignpipe serve: {args.model} as {name!r} on http://{args.host}:{args.port}/v1 "
        f"(loaded in {session.load_s:.1f} s" + (", API key required" if api_key else "") + ")"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
