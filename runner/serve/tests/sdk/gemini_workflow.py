"""Drive `batchlabel serve`'s Gemini API front end with the official `google-genai` SDK.

Usage: python gemini_workflow.py <port> <api key>. Exits non-zero (an AssertionError or an
SDK error) when the server's answers do not fit the SDK's types or the expected values.
"""

import json
import os
import sys
import tempfile
import time

from google import genai
from google.genai import errors, types

port, key = sys.argv[1], sys.argv[2]
client = genai.Client(
    api_key=key,
    http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{port}", api_version="v1beta"),
)
MODEL = "gemini-test"
SCHEMA = {
    "type": "OBJECT",
    "required": ["label"],
    "properties": {"label": {"type": "STRING", "enum": ["positive", "negative"]}},
}
TERMINAL = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}


def request(text):
    return {
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "system_instruction": {"parts": [{"text": "Label the sentiment."}]},
        "generation_config": {"response_mime_type": "application/json", "response_schema": SCHEMA},
    }


def upload(keys):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for key_ in keys:
            handle.write(json.dumps({"key": key_, "request": request(f"text {key_}")}) + "\n")
    try:
        uploaded = client.files.upload(
            file=handle.name, config=types.UploadFileConfig(display_name="labels", mime_type="jsonl")
        )
    finally:
        os.unlink(handle.name)
    assert isinstance(uploaded, types.File), type(uploaded)
    assert uploaded.name.startswith("files/") and uploaded.state == types.FileState.ACTIVE, uploaded
    assert uploaded.size_bytes > 0 and uploaded.display_name == "labels", uploaded
    return uploaded


def wait(name):
    deadline = time.monotonic() + 30
    while True:
        job = client.batches.get(name=name)
        if job.state.name in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"batch did not end: {job}"
        time.sleep(0.05)


keys = [f"row-{index}" for index in range(6)]
uploaded = upload(keys)
assert client.files.get(name=uploaded.name).sha256_hash == uploaded.sha256_hash
job = client.batches.create(model=MODEL, src=uploaded.name, config={"display_name": "sdk-batch"})
assert isinstance(job, types.BatchJob), type(job)
assert job.name.startswith("batches/") and job.display_name == "sdk-batch", job
assert job.state.name in {"JOB_STATE_PENDING", "JOB_STATE_RUNNING"}, job
assert job.model == f"models/{MODEL}", job

job = wait(job.name)
assert job.state.name == "JOB_STATE_SUCCEEDED", job
assert job.end_time is not None and job.dest and job.dest.file_name, job
content = client.files.download(file=job.dest.file_name).decode()
answered = {}
for line in content.splitlines():
    result = json.loads(line)
    response = types.GenerateContentResponse.model_validate(result["response"])
    answered[result["key"]] = json.loads(response.text)
    assert response.candidates[0].finish_reason == types.FinishReason.STOP, response
    assert response.usage_metadata.total_token_count > 0, response
assert sorted(answered) == sorted(keys), answered
assert all(answer["label"] in {"positive", "negative"} for answer in answered.values()), answered

listed = [listed_job.name for listed_job in client.batches.list(config={"page_size": 1})]
assert job.name in listed, listed

second = client.batches.create(model=MODEL, src=upload(["a", "b"]).name, config={"display_name": "to-cancel"})
client.batches.cancel(name=second.name)
second = wait(second.name)
assert second.state.name == "JOB_STATE_CANCELLED", second
client.batches.delete(name=second.name)
try:
    client.batches.get(name=second.name)
    raise AssertionError("a deleted batch is still there")
except errors.ClientError as error:
    assert error.code == 404 and error.status == "NOT_FOUND", error

answer = client.models.generate_content(
    model=MODEL,
    contents="I loved it",
    config=types.GenerateContentConfig(
        system_instruction="Label the sentiment.",
        response_mime_type="application/json",
        response_schema=SCHEMA,
        max_output_tokens=64,
    ),
)
assert json.loads(answer.text)["label"] in {"positive", "negative"}, answer
assert answer.usage_metadata.prompt_token_count > 0, answer

# Held in a name: a client collected mid-call closes its connection pool.
stranger = genai.Client(
    api_key="wrong",
    http_options=types.HttpOptions(base_url=f"http://127.0.0.1:{port}", api_version="v1beta"),
)
try:
    stranger.batches.get(name=job.name)
    raise AssertionError("a wrong key was accepted")
except errors.ClientError as error:
    assert error.code == 401, error

print("ok")
