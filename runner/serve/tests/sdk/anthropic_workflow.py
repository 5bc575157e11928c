"""Drive `batchlabel serve`'s Anthropic front end with the official `anthropic` SDK.

Usage: python anthropic_workflow.py <port> <api key>. Exits non-zero (an AssertionError or an
SDK error) when the server's answers do not fit the SDK's types or the expected values.
"""

import sys
import time

import anthropic
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

port, key = sys.argv[1], sys.argv[2]
client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=key, max_retries=0, timeout=20)

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["label"],
    "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}},
}


def params(text, form):
    body = {
        "model": "claude-test",
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Label the sentiment."}],
        "messages": [{"role": "user", "content": text}],
    }
    if form == "json":
        body["output_config"] = {"format": {"type": "json_schema", "schema": SCHEMA}}
    else:
        body["tools"] = [{"name": "record_label", "description": "Record the label.", "input_schema": SCHEMA}]
        body["tool_choice"] = {"type": "tool", "name": "record_label"}
    return body


requests = [
    {"custom_id": f"row-{index}", "params": params(f"text {index}", "json" if index % 2 else "tool")}
    for index in range(6)
]
batch = client.messages.batches.create(requests=requests)
assert isinstance(batch, MessageBatch), type(batch)
assert batch.id.startswith("msgbatch_") and batch.processing_status == "in_progress", batch
assert batch.request_counts.processing == 6 and batch.results_url is None, batch

deadline = time.monotonic() + 30
while batch.processing_status != "ended":
    assert time.monotonic() < deadline, f"batch did not end: {batch}"
    time.sleep(0.05)
    batch = client.messages.batches.retrieve(batch.id)
assert batch.request_counts.succeeded == 6, batch.request_counts
assert batch.ended_at is not None and batch.expires_at > batch.created_at, batch

seen = {}
for response in client.messages.batches.results(batch.id):
    assert isinstance(response, MessageBatchIndividualResponse), type(response)
    assert response.custom_id not in seen, f"{response.custom_id} twice"
    seen[response.custom_id] = response.result
assert sorted(seen) == sorted(request["custom_id"] for request in requests), sorted(seen)
for custom_id, result in seen.items():
    assert result.type == "succeeded", result
    message = result.message
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0, message.usage
    block = message.content[0]
    if int(custom_id.split("-")[1]) % 2:
        assert block.type == "text" and message.stop_reason == "end_turn", message
        import json

        assert json.loads(block.text)["label"] in ("positive", "negative"), block.text
    else:
        assert block.type == "tool_use" and message.stop_reason == "tool_use", message
        assert block.name == "record_label" and block.input["label"] in ("positive", "negative"), block

listed = [item.id for item in client.messages.batches.list(limit=1)]
assert batch.id in listed, listed

slow = client.messages.batches.create(requests=[{"custom_id": "later", "params": params("wait", "tool")}])
canceled = client.messages.batches.cancel(slow.id)
assert canceled.processing_status in ("canceling", "ended"), canceled
while canceled.processing_status != "ended":
    time.sleep(0.05)
    canceled = client.messages.batches.retrieve(slow.id)
assert canceled.request_counts.canceled == 1, canceled.request_counts
assert [r.result.type for r in client.messages.batches.results(slow.id)] == ["canceled"]

deleted = client.messages.batches.delete(batch.id)
assert deleted.id == batch.id and deleted.type == "message_batch_deleted", deleted
try:
    client.messages.batches.retrieve(batch.id)
    raise AssertionError("a deleted batch is still there")
except anthropic.NotFoundError:
    pass

message = client.messages.create(**params("one more", "tool"))
assert message.stop_reason == "tool_use" and message.content[0].input["label"] in ("positive", "negative"), message
try:
    client.messages.batches.create(requests=[{"custom_id": "bad id", "params": params("x", "json")}])
    raise AssertionError("a bad custom_id was accepted")
except anthropic.BadRequestError as error:
    assert "requests.0.custom_id" in str(error), error
print("ok")
