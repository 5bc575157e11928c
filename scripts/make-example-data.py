#!/usr/bin/env python3
"""Make the small example inputs in specs/data/ from the public datasets (deterministic).
The samples are checked in: this is only needed to rebuild them.

usage: scripts/make-example-data.py DATASETS_DIR
  DATASETS_DIR holds tweeteval/, clinc150/ and goemotions/ as their projects publish them.
Each output keeps the gold label(s) in a `gold` column/key for later evaluation.
"""
import csv, json, random, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if len(sys.argv) != 2:
    sys.exit(__doc__)
SRC = Path(sys.argv[1])
OUT = ROOT / "specs" / "data"
ROWS = 300


def write_csv(name, header, rows):
    with open(OUT / name, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def tweeteval():
    base = SRC / "tweeteval" / "sentiment"
    names = dict(l.split("\t") for l in (base / "mapping.txt").read_text().strip().splitlines())
    texts = (base / "test_text.txt").read_text(encoding="utf-8").splitlines()
    golds = (base / "test_labels.txt").read_text().split()
    rows = [(f"tt-{i + 1}", t.strip(), names[g].strip().upper()) for i, (t, g) in enumerate(zip(texts, golds))]
    write_csv("tweeteval-sentiment.csv", ["id", "text", "gold"], rows[:ROWS])
    # A labeled pool for few-shot examples (`examples:`), from the validation split: never
    # the test rows it is used on.
    texts = (base / "val_text.txt").read_text(encoding="utf-8").splitlines()
    golds = (base / "val_labels.txt").read_text().split()
    pool = [(f"val-{i}", t.strip(), names[g].strip().upper()) for i, (t, g) in enumerate(zip(texts, golds))]
    write_csv("tweeteval-sentiment-pool.csv", ["id", "text", "sentiment"], pool[:600])


def clinc150():
    data = json.loads((SRC / "clinc150" / "data_full.json").read_text())
    rng = random.Random(150)
    rows = rng.sample(data["test"], ROWS - 30) + rng.sample(data["oos_test"], 30)
    rng.shuffle(rows)
    write_csv("clinc150-intent.csv", ["id", "utterance", "gold"],
              [(f"c{i + 1:04d}", text, intent) for i, (text, intent) in enumerate(rows)])
    # A few-shot pool from the train split: 3 utterances per intent and 30 out of scope.
    by_intent = {}
    for text, intent in data["train"]:
        by_intent.setdefault(intent, []).append(text)
    pool = [(text, intent) for intent in sorted(by_intent) for text in rng.sample(by_intent[intent], 3)]
    pool += [(text, intent) for text, intent in rng.sample(data["oos_train"], 30)]
    rng.shuffle(pool)
    write_csv("clinc150-intent-pool.csv", ["id", "utterance", "intent"],
              [(f"train-{i + 1:04d}", text, intent) for i, (text, intent) in enumerate(pool)])
    domains = json.loads((SRC / "clinc150" / "domains.json").read_text())
    # The label list for the spec: intent -> "domain: …" definition.
    lines = []
    for domain, intents in domains.items():
        for intent in intents:
            lines.append(f"      {intent}: \"{domain.replace('_', ' ')} request: {intent.replace('_', ' ')}\"")
    # The spec specs/clinc150-intent.yaml lists these as `intent: "<domain> request: <intent>"`.
    return lines


def tweet_topic():
    with open(SRC / "tweet_topic_xl" / "en" / "en_test.jsonl", encoding="utf-8") as f, \
         open(OUT / "tweet-topics.jsonl", "w", encoding="utf-8") as out:
        for line in list(f)[:ROWS]:
            row = json.loads(line)
            out.write(json.dumps({"id": str(row["id"]), "text": row["text"], "gold": row["topics"]},
                                 ensure_ascii=False) + "\n")


def goemotions():
    base = SRC / "goemotions"
    labels = (base / "labels.txt").read_text().split()
    with open(base / "test.tsv", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][:ROWS]
    write_csv("goemotions.csv", ["comment_id", "body", "gold"],
              [(cid, text, ";".join(labels[int(i)] for i in ids.split(","))) for text, ids, cid in rows])
    # A few-shot pool: the first 600 comments of the train split.
    with open(base / "train.tsv", encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][:600]
    write_csv("goemotions-pool.csv", ["comment_id", "body", "emotions"],
              [(cid, text, ";".join(labels[int(i)] for i in ids.split(","))) for text, ids, cid in rows])


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    tweeteval(); clinc150(); tweet_topic(); goemotions()
    print(f"wrote examples to {OUT}")
