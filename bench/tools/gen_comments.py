#!/usr/bin/env python3
"""Make a CSV of N synthetic social-media comments (id, comment_text, author, created_at).

The benchmarks' input (bench/compile.sh, bench/lifecycle.sh, bench/plugins.sh). Texts mix ASCII,
quotes, commas, embedded newlines, emoji and non-Latin script so that CSV quoting and JSON
escaping are exercised. Needs only the Python standard library; deterministic for a given seed
(the same N and seed give the same file, byte for byte).

usage: gen_comments.py N OUT.csv [--seed S] [--dup-rate R]
  --seed S       random seed (default 7)
  --dup-rate R   probability that a row repeats an earlier comment's text (default 0)
"""
import csv, random, sys

WORDS = ("movie film plot actor scene great terrible boring loved hated ending music "
         "script cast director sequel awful brilliant meh okay fine worst best ever "
         "really truly so very not quite pretty watch again never recommend friends "
         "popcorn cinema trailer hype overrated underrated masterpiece mess slow fast").split()
EXTRA = ["😀", "🔥", "👎", "«quoted»", "\"double\"", "a, b, c", "naïve café", "日本語のコメント",
         "line one\nline two", "100%", "#hashtag", "@user", "https://example.com/x?y=1"]

def comment(rng):
    n = rng.randint(4, 60)
    words = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.3:
        words.insert(rng.randint(0, n), rng.choice(EXTRA))
    return " ".join(words)

def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().split("\n\n")[-1])
    n, out = int(sys.argv[1]), sys.argv[2]
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 7
    dup = float(sys.argv[sys.argv.index("--dup-rate") + 1]) if "--dup-rate" in sys.argv else 0.0
    rng = random.Random(seed)
    seen = []
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "comment_text", "author", "created_at"])
        for i in range(1, n + 1):
            if seen and rng.random() < dup:
                text = rng.choice(seen)
            else:
                text = comment(rng)
                if len(seen) < 10000:
                    seen.append(text)
            w.writerow([i, text, f"user{rng.randint(1, 50000)}", f"2026-11-{rng.randint(1,28):02d}T12:00:00Z"])

if __name__ == "__main__":
    main()
