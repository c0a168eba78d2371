"""Conformance with the official `openai` Python SDK against the real server on the default model:
chat (plain and streamed), completions, models.list, and the SDK's exception types for a bad request
(BadRequestError) and an unknown model (NotFoundError). Then SIGTERM: the server drains and exits 0.

Usage: python tests/python/test_openai_sdk.py path/to/llmserve
"""

import sys

import openai
from harness import Server


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run(base_url, model_id):
    client = openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=120)

    models = client.models.list()
    ids = [m.id for m in models.data]
    check(ids == [model_id], f"models.list: {ids}")

    chat = client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0
    )
    check(chat.object == "chat.completion", chat)
    check(chat.choices[0].message.role == "assistant" and chat.choices[0].message.content, chat)
    check(chat.choices[0].finish_reason in ("stop", "length"), chat)
    check(chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, chat.usage)

    pieces, finish, usage = [], None, None
    stream = client.chat.completions.create(
        model=model_id,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish = choice.finish_reason
    check("".join(pieces) == chat.choices[0].message.content, f"stream {pieces!r} vs {chat.choices[0].message.content!r}")
    check(finish == chat.choices[0].finish_reason, finish)
    check(usage is not None and usage.completion_tokens == chat.usage.completion_tokens, usage)

    completion = client.completions.create(model=model_id, prompt="The sky is", max_tokens=5, temperature=0, logprobs=2)
    check(completion.object == "text_completion" and completion.choices[0].text, completion)
    check(len(completion.choices[0].logprobs.tokens) == completion.usage.completion_tokens, completion)

    try:
        client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "x"}], temperature=-3)
        raise AssertionError("temperature -3 was accepted")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.body["param"] == "temperature", e.body)

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as e:
        check(e.status_code == 404 and e.body["code"] == "model_not_found", e.body)


def main():
    binary = sys.argv[1]
    with Server(binary, "--served-model-name", "smollm2") as server:
        run(server.base_url, "smollm2")
        code = server.stop()
        check(code == 0, f"server exit code after SIGTERM: {code}")
        check(any('"message":"server stopped"' in line for line in server.log_lines), "no 'server stopped' log line")
        finished = [line for line in server.log_lines if '"request finished"' in line]
        refused = [line for line in server.log_lines if '"request refused"' in line]
        check(len(finished) == 3 and len(refused) == 2, f"request log lines: {len(finished)} finished, {len(refused)} refused")
        check(all("Say hello" not in line for line in server.log_lines), "prompt text leaked into the logs")
    print("openai SDK conformance: all checks passed")


if __name__ == "__main__":
    main()
