"""`alignpipe serve`: transformers' OpenAI-compatible server with an alignpipe model, driven by the official
`openai` client against a server started here on a free local port."""

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest

openai = pytest.importorskip("openai")  # the dev extra installs it (transformers[serving])

from alignpipe.inference.guard import Verdict

PROMPT = "what is 3 plus 4?"
KEY = "test-key"


class WordGuard:
    """A guard with `Guard.screen`'s interface that flags prompts naming a bomb (the server's plumbing is under
    test here; trained guards are tested in tests/test_serve.py)."""

    def screen(self, prompts):
        return [Verdict("bomb" in p, 0.97 if "bomb" in p else 0.02) for p in prompts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_minigpt):
    import uvicorn

    from alignpipe.inference.loading import load_lm
    from alignpipe.serve.server import build_app

    lm = load_lm(str(tiny_minigpt))
    lm.model.generation_config.do_sample = (
        False  # a model whose own default is greedy: asked to sample, it samples
    )
    app = build_app(lm, "tiny", guard=WordGuard(), api_key=KEY, max_tokens=8)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}/v1", lm
    server.should_exit = True
    thread.join(timeout=10)


def client(base, key=KEY):
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=60)


def ask(base, **kw):
    body = {"model": "tiny", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 8, **kw}
    return client(base).chat.completions.create(**body)


def test_models_and_an_unstreamed_chat_equal_alignpipe_generate(served):
    from alignpipe.inference.generation import GenerationSettings, encode, generate, render

    base, lm = served
    assert [m.id for m in client(base).models.list().data] == ["tiny"]
    reply = ask(base, temperature=0)
    assert reply.choices[0].message.content  # a real answer to compare, not two empty strings
    ids = encode(lm.tokenizer, render(lm.tokenizer, [{"role": "user", "content": PROMPT}], True))
    expected = generate(lm.model, lm.tokenizer, [ids], GenerationSettings(greedy=True, max_new_tokens=8))[0]
    # greedy on both sides; the smallest top-two logit gap on this path is 4e-3 (tests/test_serve.py)
    assert reply.choices[0].message.content == expected.text
    assert reply.choices[0].finish_reason in ("stop", "length") and reply.usage.completion_tokens <= 8


def test_a_streamed_chat_arrives_in_pieces_that_make_the_same_text(served):
    base, _ = served
    whole = ask(base, temperature=0).choices[0].message.content
    stream = ask(base, temperature=0, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == whole


def test_bad_requests_are_openai_errors_and_the_server_keeps_serving(served):
    base, _ = served
    with pytest.raises(openai.NotFoundError) as e:
        client(base).chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["code"] == "model_not_found"
    for bad, param in (({"temperature": 3}, "temperature"), ({"top_p": 0}, "top_p"), ({"n": 9}, "n")):
        with pytest.raises(openai.BadRequestError) as e:
            ask(base, **bad)
        assert e.value.body["param"] == param, bad
    with pytest.raises(openai.BadRequestError) as e:
        ask(base, messages=[{"role": "user", "content": "count " * 400}])
    assert e.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.AuthenticationError):
        client(base, key="wrong").models.list()
    request = urllib.request.Request(
        f"{base}/chat/completions",
        data=b"{not json",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=30)
    assert e.value.code == 400 and "error" in json.loads(e.value.read())
    assert ask(base, temperature=0).choices[0].message.content  # still serving


def test_the_guard_answers_a_flagged_prompt_without_the_model(served):
    from alignpipe.inference.guard import REFUSAL

    base, _ = served
    messages = [{"role": "user", "content": "how do I build a bomb"}]
    reply = client(base).chat.completions.create(model="tiny", messages=messages)
    assert reply.choices[0].message.content == REFUSAL and reply.choices[0].finish_reason == "content_filter"
    assert reply.model_extra["alignpipe_guard"] == {"flagged": True, "score": 0.97}
    stream = client(base).chat.completions.create(model="tiny", messages=messages, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == REFUSAL


def test_sixteen_concurrent_clients_get_what_one_client_gets_for_the_same_seed(served):
    base, _ = served
    alone = {seed: ask(base, temperature=1.0, seed=seed).choices[0].message.content for seed in (1, 2)}
    assert alone[1] and alone[2] and alone[1] != alone[2]  # sampling: the seed matters
    results: dict[int, str] = {}

    def one(i: int):
        results[i] = ask(base, temperature=1.0, seed=1 + i % 2).choices[0].message.content

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 16
    assert all(results[i] == alone[1 + i % 2] for i in range(16))


def test_n_answers_are_the_answers_of_n_seeds(served):
    base, _ = served
    several = ask(base, temperature=1.0, seed=5, n=3)
    assert [c.index for c in several.choices] == [0, 1, 2]
    assert len({c.message.content for c in several.choices}) == 3  # three samples, not one answer thrice
    for i, choice in enumerate(several.choices):
        assert choice.message.content == ask(base, temperature=1.0, seed=5 + i).choices[0].message.content
    with pytest.raises(openai.BadRequestError):
        ask(base, n=2, stream=True)


def test_serve_refuses_a_port_in_use_in_one_line(tiny_minigpt, capsys):
    from alignpipe import cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert cli.main(["serve", str(tiny_minigpt), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err


def test_plain_completions_and_their_guard(served):
    from alignpipe.inference.generation import GenerationSettings, encode, generate

    base, lm = served
    reply = client(base).completions.create(
        model="tiny", prompt="what is 3 plus", max_tokens=6, temperature=0
    )
    ids = encode(lm.tokenizer, "what is 3 plus")
    expected = generate(lm.model, lm.tokenizer, [ids], GenerationSettings(greedy=True, max_new_tokens=6))[0]
    assert reply.choices[0].text == expected.text
    with pytest.raises(openai.BadRequestError) as e:
        client(base).completions.create(model="tiny", prompt="a bomb recipe", max_tokens=6)
    assert e.value.body["code"] == "content_filter"
