"""The official OpenAI Python SDK against `batchlabel serve`: the whole Files + Batches
workflow and a structured chat call, every object validated strictly against the SDK's own
pydantic types (the SDK parses leniently, so a missing required field would pass unseen).

Run by runner/serve/tests/openai_azure/openai_sdk.rs with BATCHLABEL_BASE_URL and
BATCHLABEL_API_KEY set; prints one JSON summary line the test checks, exits non-zero on
any failure.
"""

import json
import os
import sys
import tempfile
import time
from typing import Literal

import openai
import pydantic
from openai import OpenAI
from openai.types import Batch, FileDeleted, FileObject
from openai.types.chat import ChatCompletion

BASE = os.environ["BATCHLABEL_BASE_URL"]
KEY = os.environ["BATCHLABEL_API_KEY"]
MODEL = "gpt-4o-mini"
SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["label", "confidence"],
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative"]},
        "confidence": {"type": "number"},
    },
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "sentiment", "strict": True, "schema": SCHEMA},
}

client = OpenAI(base_url=BASE + "/v1", api_key=KEY, timeout=20, max_retries=0)


def no_extras(model, where):
    """Every field the server sent is one the SDK declares (a misspelt field shows here)."""
    assert not model.model_extra, f"{where}: undeclared fields {model.model_extra}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, pydantic.BaseModel):
                no_extras(item, f"{where}.{name}")


def strict(model_type, raw_response):
    """Validate the wire JSON strictly (required fields present, exact types) and return it
    parsed."""
    wire = raw_response.http_response.json()
    parsed = model_type.model_validate(wire, strict=True)
    no_extras(parsed, model_type.__name__)
    return parsed


def line(custom_id, text):
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "response_format": RESPONSE_FORMAT,
    }
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def wait(batch_id, wanted, seconds=30):
    deadline = time.monotonic() + seconds
    while True:
        batch = strict(Batch, client.batches.with_raw_response.retrieve(batch_id))
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            assert batch.status == wanted, f"{batch_id}: {batch.status} ({batch.errors})"
            return batch
        assert time.monotonic() < deadline, f"{batch_id} still {batch.status}"
        time.sleep(0.1)


def expect_status(error_type, status, call):
    try:
        call()
    except error_type as error:
        assert error.status_code == status, error
        body = error.body
        assert isinstance(body, dict) and set(body) >= {"message", "type", "param", "code"}, body
        return error
    raise AssertionError(f"expected {error_type.__name__}")


texts = {"a": "I love it", "b": "I hate it", "c": "Fine, I guess"}
content = "\n".join(line(custom_id, text) for custom_id, text in texts.items()) + "\n"

# Files: a named .jsonl file, raw bytes (no extension), and a refused .csv.
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "input.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(content)
    with open(path, "rb") as handle:
        named = strict(FileObject, client.files.with_raw_response.create(file=handle, purpose="batch"))
assert (named.filename, named.purpose, named.status) == ("input.jsonl", "batch", "processed")
assert named.bytes == len(content.encode()) and named.expires_at == named.created_at + 2_592_000
raw = strict(FileObject, client.files.with_raw_response.create(file=content.encode(), purpose="batch"))
assert raw.filename == "upload" and raw.bytes == named.bytes
refused = expect_status(
    openai.BadRequestError,
    400,
    lambda: client.files.create(file=("x.csv", content.encode()), purpose="batch"),
)
assert ".jsonl" in refused.body["message"], refused.body

listed = client.files.with_raw_response.list(purpose="batch")
page = listed.parse()
for wire in listed.http_response.json()["data"]:
    no_extras(FileObject.model_validate(wire, strict=True), "files.list")
assert {named.id, raw.id} <= {file.id for file in page.data}
assert strict(FileObject, client.files.with_raw_response.retrieve(named.id)).id == named.id
assert client.files.content(named.id).text == content

# Batches: one runs to completion, one is cancelled.
created = strict(
    Batch,
    client.batches.with_raw_response.create(
        input_file_id=named.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        metadata={"job": "sdk"},
    ),
)
assert created.status == "validating" and created.model == MODEL, created
assert created.expires_at == created.created_at + 86_400, created
assert created.metadata == {"job": "sdk"}
done = wait(created.id, "completed")
assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (3, 3, 0)
usage = done.usage
assert usage.total_tokens == usage.input_tokens + usage.output_tokens > 0, usage
assert usage.input_tokens_details.cached_tokens == 0 and usage.output_tokens_details.reasoning_tokens == 0
assert done.output_file_id and done.error_file_id is None, done
assert done.in_progress_at and done.finalizing_at and done.completed_at
output_file = strict(FileObject, client.files.with_raw_response.retrieve(done.output_file_id))
assert output_file.purpose == "batch_output"
labels = {}
for text in client.files.content(done.output_file_id).text.splitlines():
    result = json.loads(text)
    assert result["error"] is None and result["response"]["status_code"] == 200, result
    completion = ChatCompletion.model_validate(result["response"]["body"], strict=True)
    no_extras(completion, "output line")
    answer = json.loads(completion.choices[0].message.content)
    assert answer["label"] in ("positive", "negative"), answer
    labels[result["custom_id"]] = answer["label"]
assert set(labels) == set(texts), labels

second = client.batches.create(input_file_id=raw.id, endpoint="/v1/chat/completions", completion_window="24h")
cancelling = strict(Batch, client.batches.with_raw_response.cancel(second.id))
assert cancelling.status == "cancelling" and cancelling.cancelling_at, cancelling
cancelled = wait(second.id, "cancelled")
assert cancelled.cancelled_at and cancelled.request_counts.completed == 0

batches = client.batches.with_raw_response.list(limit=100)
for wire in batches.http_response.json()["data"]:
    no_extras(Batch.model_validate(wire, strict=True), "batches.list")
assert {created.id, second.id} <= {batch.id for batch in batches.parse().data}

deleted = strict(FileDeleted, client.files.with_raw_response.delete(raw.id))
assert deleted.deleted and deleted.id == raw.id
expect_status(openai.NotFoundError, 404, lambda: client.files.retrieve(raw.id))

# Synchronous structured chat, with a JSON schema and with the SDK's pydantic helper.
chat = strict(
    ChatCompletion,
    client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[{"role": "user", "content": "I love it"}],
        response_format=RESPONSE_FORMAT,
    ),
)
assert chat.object == "chat.completion" and chat.choices[0].finish_reason == "stop"
assert json.loads(chat.choices[0].message.content)["label"] in ("positive", "negative")
assert chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens


class Sentiment(pydantic.BaseModel):
    label: Literal["positive", "negative"]
    confidence: float


parsed = client.chat.completions.parse(
    model=MODEL, messages=[{"role": "user", "content": "I hate it"}], response_format=Sentiment
)
assert isinstance(parsed.choices[0].message.parsed, Sentiment)

# What the server does not do is refused, in the envelope the SDK maps to its errors.
messages = [{"role": "user", "content": "hi"}]
streamed = expect_status(
    openai.BadRequestError, 400, lambda: client.chat.completions.create(model=MODEL, messages=messages, stream=True)
)
assert streamed.body["param"] == "stream"
several = expect_status(
    openai.BadRequestError, 400, lambda: client.chat.completions.create(model=MODEL, messages=messages, n=2)
)
assert several.body["param"] == "n"
embeddings = expect_status(
    openai.BadRequestError,
    400,
    lambda: client.batches.create(input_file_id=named.id, endpoint="/v1/embeddings", completion_window="24h"),
)
assert "/v1/chat/completions" in embeddings.body["message"]
wrong = OpenAI(base_url=BASE + "/v1", api_key="sk-wrong-key-0000000000", timeout=20, max_retries=0)
denied = expect_status(openai.AuthenticationError, 401, lambda: wrong.batches.list())
assert denied.body["code"] == "invalid_api_key", denied.body

print(
    json.dumps(
        {
            "completed": done.id,
            "cancelled": cancelled.id,
            "output_lines": len(labels),
            "usage_total": usage.total_tokens,
        }
    )
)
sys.exit(0)
