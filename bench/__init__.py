"""`make bench`: the whole pipeline at scale, stage by stage, against physical-limit references.

`python -m bench.run --scale N` generates a landing zone, runs a full first day and an
incremental second day on a private embedded warehouse, measures every stage and the
references in the same run, and writes JSON and Markdown to `bench-results/`.
"""
