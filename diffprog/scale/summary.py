"""The batch summary: one row per job (status, overrides, metrics, time, and why a job ran again), as
``summary.csv`` and as a printed table, optionally ranked by one metric."""
import csv
import io
import math

from diffprog.fit.files import atomic_write

# A metric whose name contains one of these words is better when higher; any other metric (loss,
# error, chamfer distance, time...) is better when lower. ``order=`` overrides the guess.
HIGHER_IS_BETTER = ("iou", "psnr", "ssim", "accuracy", "score", "r2", "precision", "recall", "f1")


def metric_order(metric):
    """"max" if a higher ``metric`` is better by its name (see HIGHER_IS_BETTER), else "min"."""
    name = metric.lower()
    return "max" if any(word in name for word in HIGHER_IS_BETTER) else "min"


def rank_results(results, metric, order=None):
    """Results sorted best first by ``metric`` (``order`` "min" or "max"; default from its name).
    Jobs that failed or lack a finite value of the metric follow, in their original order.
    Raises ValueError if no finished job reports ``metric`` (naming the metrics that exist)."""
    order = metric_order(metric) if order is None else order
    if order not in ("min", "max"):
        raise ValueError(f"order must be 'min' or 'max', got {order!r}")
    available = sorted({key for result in results for key in (result.get("metrics") or {})})
    if available and metric not in available:
        raise ValueError(f"cannot rank by metric {metric!r}: the jobs report {', '.join(available)}")
    ranked, rest = [], []
    for result in results:
        value = (result.get("metrics") or {}).get(metric)
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        (ranked if is_number and result.get("status") in ("done", "skipped") else rest).append(result)
    ranked.sort(key=lambda result: result["metrics"][metric], reverse=(order == "max"))
    return ranked + rest


def summary_rows(results, ranked=False):
    """The summary as a header list and rows of plain values (floats kept exact)."""
    override_keys = _union(result.get("overrides") or {} for result in results)
    metric_keys = _union(result.get("metrics") or {} for result in results)
    header = (["rank"] if ranked else []) + ["job", "status"] + override_keys + metric_keys + [
        "job_seconds", "attempts", "scene", "out_dir", "error", "reason"]
    rows = []
    for index, result in enumerate(results):
        overrides = result.get("overrides") or {}
        metrics = result.get("metrics") or {}
        row = ([index + 1 if result.get("status") != "failed" else ""] if ranked else [])
        row += [result["name"], result["status"]]
        row += [overrides.get(key, "") for key in override_keys]
        row += [metrics.get(key, "") for key in metric_keys]
        row += [result.get("seconds") if result.get("seconds") is not None else "", result.get("attempts") or "",
                result.get("scene", ""), result.get("out_dir", ""), result.get("error") or "",
                result.get("reason") or ""]
        rows.append(row)
    return header, rows


def write_summary(path, results, ranked=False):
    """Write ``summary.csv`` atomically; floats are written with ``repr`` so they read back exactly."""
    header, rows = summary_rows(results, ranked)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([repr(value) if isinstance(value, float) else value for value in row])
    text = buffer.getvalue()

    def write(temporary):
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    atomic_write(path, write)


def format_table(results, ranked=False):
    """The summary as an aligned text table (numbers to 6 significant digits), without paths, and without
    the overrides every job shares (they are in ``summary.csv``)."""
    header, rows = summary_rows(results, ranked)
    shared = {key for key in _union(result.get("overrides") or {} for result in results)
              if len(rows) > 1 and len({repr(row[header.index(key)]) for row in rows}) == 1}
    keep = [index for index, name in enumerate(header) if name not in {"scene", "out_dir", "error", "reason", *shared}]
    cells = [[header[index] for index in keep]]
    for row in rows:
        cells.append([_format(row[index], header[index]) for index in keep])
    widths = [max(len(line[column]) for line in cells) for column in range(len(keep))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    for row in rows:
        reason = row[header.index("reason")]
        if reason:
            lines.append(f"{row[header.index('job')]}: {reason}")
    for row in rows:
        error = row[header.index("error")]
        if error:
            lines.append(f"{row[header.index('job')]} failed: {error}")
    return "\n".join(lines)


def _format(value, column):
    if isinstance(value, float) and column == "job_seconds":
        return f"{value:.1f}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _union(dicts):
    keys = {}
    for mapping in dicts:
        for key in mapping:
            keys.setdefault(key, None)
    return list(keys)
