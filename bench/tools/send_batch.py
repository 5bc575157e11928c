#!/usr/bin/env python3
"""Send a Batch API JSONL file to an OpenAI-compatible batch endpoint and sum the usage its
output reports: upload (Files API), create the batch, poll it, read the output file.

bench/cost.sh uses it to count the input tokens of the article's own requests (what
seed_compile.py writes) the way `batchlabel serve --exact-usage` counts batchlabel's.

usage: send_batch.py BASE_URL REQUESTS.jsonl   (prints {"requests", "prompt_tokens", "completion_tokens"})
"""
import json, sys, time, urllib.request, uuid


def call(url, body=None, content_type="application/json"):
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    if body is not None:
        request.add_header("content-type", content_type)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return answer.read()


def upload(base, path):
    boundary = uuid.uuid4().hex
    with open(path, "rb") as file:
        content = file.read()
    body = (f"--{boundary}\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            f"--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"requests.jsonl\"\r\n"
            "content-type: application/jsonl\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return json.loads(call(f"{base}/files", body, f"multipart/form-data; boundary={boundary}"))["id"]


def main():
    base, path = sys.argv[1].rstrip("/"), sys.argv[2]
    file_id = upload(base, path)
    create = json.dumps({"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                         "completion_window": "24h"}).encode()
    batch = json.loads(call(f"{base}/batches", create))
    while batch["status"] not in ("completed", "failed", "expired", "cancelled"):
        time.sleep(0.2)
        batch = json.loads(call(f"{base}/batches/{batch['id']}"))
    if batch["status"] != "completed" or not batch.get("output_file_id"):
        sys.exit(f"the batch ended {batch['status']}: {json.dumps(batch)}")
    totals = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for line in call(f"{base}/files/{batch['output_file_id']}/content").decode().splitlines():
        usage = json.loads(line)["response"]["body"]["usage"]
        totals["requests"] += 1
        totals["prompt_tokens"] += usage["prompt_tokens"]
        totals["completion_tokens"] += usage["completion_tokens"]
    print(json.dumps(totals))


if __name__ == "__main__":
    main()
