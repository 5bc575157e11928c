#!/usr/bin/env python3
"""Baseline for bench/compile.sh: reproduces the approach of the article this project grew from.

pandas `read_csv` of the whole file, `iterrows`, and one `json.dumps` per row into a single
OpenAI Batch API JSONL file (no sharding, no streaming: memory grows with the input). Kept
deliberately naive: it is the "before" that batchlabel's compile is measured against, so do not
optimise it. Needs pandas (bench/compile.sh runs `pip install pandas` when it is missing).

usage: seed_compile.py IN.csv OUT.jsonl
"""
import json, sys
import pandas as pd

SYSTEM = ('You are a movie sentiment analyst. Classify the comment as POSITIVE, NEGATIVE, '
          'or NEUTRAL. Return JSON: {"sentiment": "value"}')

def main():
    src, dst = sys.argv[1], sys.argv[2]
    df = pd.read_csv(src)
    with open(dst, "w") as f:
        for _, row in df.iterrows():
            line = {"custom_id": f"comment-{row['id']}", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "gpt-4o-mini", "temperature": 0.0,
                             "response_format": {"type": "json_object"},
                             "messages": [{"role": "system", "content": SYSTEM},
                                          {"role": "user", "content": row["comment_text"]}]}}
            f.write(json.dumps(line) + "\n")
    print(f"compiled {len(df)} requests into {dst}")

if __name__ == "__main__":
    main()
