"""The official SDK's Azure client (`openai.AzureOpenAI`, dated api-version paths and the
`api-key` header) and its OpenAI client pointed at Azure's v1 API, against `batchlabel
serve`'s `/openai/` front end: upload, create (with Azure's quota headers), poll, the 0-byte
error file, output, a deployment chat call and the 401.

Run by runner/serve/tests/openai_azure/openai_sdk.rs; prints one JSON summary line.
"""

import json
import os
import sys
import time

import openai
from openai import AzureOpenAI, OpenAI
from openai.types import Batch, FileObject
from openai.types.chat import ChatCompletion

BASE = os.environ["BATCHLABEL_BASE_URL"]
KEY = os.environ["BATCHLABEL_API_KEY"]
DEPLOYMENT = "gpt-4o-mini-batch"

azure = AzureOpenAI(azure_endpoint=BASE, api_key=KEY, api_version="2024-10-21", timeout=20, max_retries=0)
v1 = OpenAI(base_url=BASE + "/openai/v1/", api_key=KEY, timeout=20, max_retries=0)


def strict(model_type, raw_response):
    return model_type.model_validate(raw_response.http_response.json(), strict=True)


def request(custom_id, url, text):
    body = {"model": DEPLOYMENT, "messages": [{"role": "user", "content": text}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body})


content = "\n".join(
    [request("a", "/chat/completions", "one"), request("b", "/v1/chat/completions", "two")]
)
uploaded = strict(FileObject, azure.files.with_raw_response.create(file=("in.jsonl", content.encode()), purpose="batch"))
assert uploaded.purpose == "batch" and uploaded.bytes == len(content.encode())

raw = azure.batches.with_raw_response.create(
    input_file_id=uploaded.id, endpoint="/chat/completions", completion_window="24h"
)
assert int(raw.headers["deployment-enqueued-tokens"]) == -(-len(content) // 4), raw.headers
assert int(raw.headers["deployment-maximum-enqueued-tokens"]) == 1_000_000_000
created = strict(Batch, raw)
assert created.status == "validating" and created.model == DEPLOYMENT, created

deadline = time.monotonic() + 30
while True:
    batch = strict(Batch, azure.batches.with_raw_response.retrieve(created.id))
    if batch.status in ("completed", "failed", "expired", "cancelled"):
        break
    assert time.monotonic() < deadline, batch.status
    time.sleep(0.1)
assert batch.status == "completed", batch
assert batch.error_file_id, "Azure always writes an error file"
assert azure.files.content(batch.error_file_id).content == b""
output = [json.loads(line) for line in azure.files.content(batch.output_file_id).text.splitlines()]
assert sorted(line["custom_id"] for line in output) == ["a", "b"], output

# The v1 API through the plain OpenAI client (Bearer auth, no api-version).
assert created.id in {listed.id for listed in v1.batches.list().data}
assert strict(Batch, v1.batches.with_raw_response.retrieve(created.id)).status == "completed"

chat = strict(
    ChatCompletion,
    azure.chat.completions.with_raw_response.create(
        model=DEPLOYMENT, messages=[{"role": "user", "content": "hi"}]
    ),
)
assert chat.model.startswith(DEPLOYMENT), chat.model

wrong = AzureOpenAI(azure_endpoint=BASE, api_key="wrong", api_version="2024-10-21", timeout=20, max_retries=0)
try:
    wrong.batches.list()
    raise AssertionError("a wrong key was accepted")
except openai.AuthenticationError as error:
    assert error.status_code == 401 and error.body["code"] == "401", error.body

print(json.dumps({"completed": batch.id, "output_lines": len(output)}))
sys.exit(0)
