"""Drive `batchlabel serve`'s Mistral front end with the official `mistralai` SDK.

Usage: python mistral_workflow.py <port> <api key>. Exits non-zero (an AssertionError or an
SDK error, which includes the SDK's own validation of every answer against its types) when the
server's answers do not fit the SDK's types or the expected values.
"""

import json
import sys
import time

from mistralai.client import Mistral, errors

port, key = sys.argv[1], sys.argv[2]
client = Mistral(api_key=key, server_url=f"http://127.0.0.1:{port}")
MODEL = "mistral-small-latest"
SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}},
    "required": ["label"],
    "additionalProperties": False,
}
TERMINAL = {"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"}


def line(custom_id, text):
    body = {
        "messages": [
            {"role": "system", "content": "Label the sentiment."},
            {"role": "user", "content": text},
        ],
        "max_tokens": 20,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "labels", "strict": True, "schema": SCHEMA},
        },
    }
    return json.dumps({"custom_id": custom_id, "body": body})


def upload(ids):
    content = "".join(line(custom_id, f"comment {custom_id}") + "\n" for custom_id in ids)
    uploaded = client.files.upload(
        file={"file_name": "requests.jsonl", "content": content.encode()}, purpose="batch"
    )
    assert uploaded.purpose == "batch", uploaded
    assert uploaded.size_bytes == len(content.encode()), uploaded
    assert uploaded.sample_type == "batch_request", uploaded
    return uploaded


def wait(job_id):
    deadline = time.time() + 60
    while True:
        job = client.batch.jobs.get(job_id=job_id)
        if job.status in TERMINAL:
            return job
        assert time.time() < deadline, f"the job did not end: {job}"
        time.sleep(0.1)


# Upload, create with metadata, poll to SUCCESS, download the results.
ids = [f"r-{index}" for index in range(5)]
uploaded = upload(ids)
assert client.files.retrieve(file_id=uploaded.id).filename == "requests.jsonl"
job = client.batch.jobs.create(
    input_files=[uploaded.id],
    model=MODEL,
    endpoint="/v1/chat/completions",
    metadata={"job": "sdk-test"},
)
assert job.status in ("QUEUED", "RUNNING"), job
assert job.input_files == [uploaded.id], job
job = wait(job.id)
assert job.status == "SUCCESS", job
assert (job.total_requests, job.succeeded_requests, job.failed_requests) == (5, 5, 0), job
results = client.files.download(file_id=job.output_file).read().decode()
answered = {}
for text in results.splitlines():
    result = json.loads(text)
    content = result["response"]["body"]["choices"][0]["message"]["content"]
    answered[result["custom_id"]] = json.loads(content)["label"]
assert sorted(answered) == ids, answered
assert set(answered.values()) <= {"positive", "negative"}, answered

# Listing by metadata finds the job (how a lost create is found again).
listed = client.batch.jobs.list(metadata={"job": "sdk-test"})
assert [listed_job.id for listed_job in listed.data or []] == [job.id], listed
assert client.batch.jobs.list(metadata={"job": "other"}).total == 0

# Files list and delete.
files = client.files.list(purpose="batch")
assert uploaded.id in [file.id for file in files.data], files
assert client.files.delete(file_id=uploaded.id).deleted

# A second job cancelled before it ends.
second = client.batch.jobs.create(
    input_files=[upload(["c-1", "c-2"]).id], model=MODEL, endpoint="/v1/chat/completions"
)
cancelled = client.batch.jobs.cancel(job_id=second.id)
assert cancelled.status in ("CANCELLATION_REQUESTED", "CANCELLED"), cancelled
assert wait(second.id).status == "CANCELLED"

# The synchronous endpoint pilot uses.
chat = client.chat.complete(
    model=MODEL,
    messages=[{"role": "user", "content": "great stuff"}],
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "labels", "strict": True, "schema": SCHEMA},
    },
)
assert json.loads(chat.choices[0].message.content)["label"] in ("positive", "negative"), chat

# A wrong key is refused as Mistral refuses it.
try:
    Mistral(api_key="wrong", server_url=f"http://127.0.0.1:{port}").batch.jobs.list()
    raise AssertionError("a wrong key was accepted")
except errors.SDKError as error:
    assert error.status_code == 401, error

print("ok")
