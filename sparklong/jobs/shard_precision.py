"""The precision each shard of a job's output was computed in, and the rule that one output holds one.

With precision 'auto' a model stage picks its precision where it runs: bfloat16 on GPUs that have it, float16
on older GPUs, float32 on CPUs. On a cluster whose GPUs differ, two tasks of one run, or tonight's incremental
run and last night's, could write vectors of two precisions into one output, in silence. So each task records
the precision its model stages compute in (udfs.model_cache.planned_precision: the placement its model cache
loads) in its commit record and its file's footer; the output keeps each shard's (PRECISIONS, in the
manifest: the parquet folder's file, or the Delta version's commit), and a run that would leave an output
holding two fails with one line that names them and the fix.
"""
from __future__ import annotations

from .job_error import JobError

PRECISIONS = "shard_precisions"  # manifest key: {shard (as a string): precision}
FOOTER_KEY = b"sparklong.precision"  # a shard file's footer: its rows' precision (the task's, or the kept rows')


def task_precision(engines: list[dict]) -> str:
    """The precision this task's model stages compute in ('float32', ...; stages in different ones: each,
    sorted, joined by '+'; '' without a model stage). `engines`: each model stage's engine_settings()."""
    from ..udfs.model_cache import planned_precision

    return "+".join(sorted({planned_precision(**settings) for settings in engines}))


def merged_precisions(recorded: dict[str, str] | None, records: list[dict]) -> dict[str, str]:
    """The output's {shard: precision} after this run's commit records: a shard that computed rows takes its
    task's precision, one left without a file is dropped, the others keep theirs."""
    precisions = dict(recorded or {})
    for record in records:
        shard = str(record["shard"])
        if not record["file"]:
            precisions.pop(shard, None)
        elif record["computed"] and record["precision"]:
            precisions[shard] = record["precision"]
    return dict(sorted(precisions.items(), key=lambda item: int(item[0])))


def check_one_precision(root: str, precisions: dict[str, str] | None) -> None:
    """JobError when the output's shards hold vectors of more than one precision."""
    shards_of: dict[str, list[str]] = {}
    for shard, precision in (precisions or {}).items():
        shards_of.setdefault(precision, []).append(shard)
    if len(shards_of) < 2:
        return
    held = "; ".join(f"{precision} in shards {', '.join(shards[:5])}{', ...' if len(shards) > 5 else ''}"
                     for precision, shards in sorted(shards_of.items()))
    raise JobError(f"output {root} would hold vectors of {len(shards_of)} precisions ({held}): precision 'auto' "
                   "picks one per executor (GPUs of different kinds); pass --precision with one of them and "
                   "--overwrite to start again")
