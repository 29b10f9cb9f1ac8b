"""Helpers of `benchmarks/gpu_tune_compare.sh`: the recipe as the study's first trial, the tuned pick,
one summary per comparison run, the final table (also `benchmarks/gpu_finetune_compare.sh`'s summaries
and table: scratch vs fine-tuned, no study).

    tune_compare.py baseline --config CFG --space SPACE --study NAME --out STUDY_DIR --data DATA [--set K=V]
    tune_compare.py pick     (same arguments) --dest DIR       -> DIR/tuned.yaml, DIR/pick.json
    tune_compare.py run RUN_DIR --name NAME --seed S --start UNIX_SECONDS --out SUMMARY_JSON [--eval EVAL_JSON]
    tune_compare.py table SUMMARY_JSON... [--pick pick.json] [--device NAME] [--note TEXT]

Why a baseline trial: the question is whether the study beats the hand recipe, so the recipe's own
values of the searched keys run first, under the same trial rules (steps, pruning, score) as every
sampled config; the study report then compares the winner with it (tune/explain.py).
Why `pick` may pass over the winner: when the recipe itself wins the study, comparing it with itself
measures nothing; the best other completed trial is compared instead, and pick.json says so.
Minutes are wall-clock from the launch of `tacotron train` (start-up and CUDA-graph capture count), as
in natural_curve.py; the runs of one comparison train for the same `train.max_minutes`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

DIAG_THRESHOLD = 0.5  # validation diagonality counted as aligned (the r <= 2 habit of earlier results)
BASELINE = "baseline"  # user attribute of the enqueued trial that runs the base config's values


def _job(args: argparse.Namespace) -> Any:
    """The `TuneJob` of the study `tacotron tune` runs with the same arguments (same storage, base)."""
    from tacotron.config import load_config
    from tacotron.configs import find_config
    from tacotron.tune.runner import TuneJob
    from tacotron.tune.space import SearchSpace

    cfg = load_config(args.config, args.overrides)
    space = SearchSpace.load(find_config(args.space))
    return TuneJob(cfg=cfg, dataset_dir=args.data, space=space, study_name=args.study, out_dir=args.out)


def base_params(job: Any) -> dict[str, Any]:
    """The base config's value of every searched key; a ValueError when one lies outside its range."""
    from tacotron.tune.explain import base_value

    params = {}
    for spec in job.space.params:
        value = base_value(job.cfg, spec.key)
        inside = value in spec.choices if spec.type == "categorical" else spec.low <= value <= spec.high
        if not inside:
            raise ValueError(f"{spec.key}: the base config's {value!r} is outside the search space")
        params[spec.key] = value
    return params


def enqueue_baseline(job: Any) -> bool:
    """Queue the base config's values as a trial unless the study has one already; True when queued."""
    from tacotron.tune.runner import open_job_study

    study = open_job_study(job)
    if any(BASELINE in t.user_attrs for t in study.get_trials(deepcopy=False)):
        return False
    study.enqueue_trial(base_params(job), user_attrs={BASELINE: "the base config's own values"})
    return True


def _last_report(trial: Any) -> tuple[int, float]:
    step = max(trial.intermediate_values)
    return step, trial.intermediate_values[step]


def choose_tuned(trials: list[Any], base: Any) -> tuple[Any | None, str]:
    """(the trial to compare with the recipe, why that one); (None, why) when there is none.

    The best completed trial that did not run the base values; failing any, the pruned one that got
    furthest (then best intermediate score).
    """
    from tacotron.tune.explain import runs_base_values

    complete = sorted((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.values[0])
    others = [t for t in complete if not runs_base_values(t.params, base)]
    if others:
        if complete[0] is not others[0]:
            return others[0], (
                f"the recipe's own values won the study (trial {complete[0].number}); "
                f"trial {others[0].number} is the best other completed trial"
            )
        return others[0], f"trial {others[0].number} is the study's best"
    pruned = [
        t
        for t in trials
        if t.state.name == "PRUNED" and t.intermediate_values and not runs_base_values(t.params, base)
    ]
    if pruned:
        chosen = min(pruned, key=lambda t: (-_last_report(t)[0], _last_report(t)[1]))
        step = _last_report(chosen)[0]
        return chosen, (
            f"no sampled trial completed; trial {chosen.number} is the pruned one that got furthest "
            f"(step {step}) with the best score there"
        )
    return None, "no sampled trial reached an evaluation: nothing to compare with the recipe"


def pick(job: Any, dest: Path) -> dict[str, Any]:
    """Write dest/tuned.yaml (base + the chosen trial's values) and dest/pick.json; returns pick.json's data."""
    from tacotron.tune.explain import param_changes, runs_base_values
    from tacotron.tune.runner import open_job_study
    from tacotron.tune.space import apply_params

    study = open_job_study(job)
    trials = study.get_trials(deepcopy=False)
    chosen, why = choose_tuned(trials, job.cfg)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    recipe = [t for t in trials if t.params and runs_base_values(t.params, job.cfg)]
    result: dict[str, Any] = {"study": job.study_name, "why": why, "trials": states, "tuned_trial": None}
    if recipe:
        t = recipe[0]
        result["recipe_trial"] = {
            "number": t.number,
            "state": t.state.name,
            "value": t.values[0] if t.values else None,
            "steps_to_align": t.user_attrs.get("steps_to_align"),
            "prune_reason": t.user_attrs.get("prune_reason"),
        }
    if chosen is not None:
        changed, _ = param_changes(chosen.params, job.cfg)
        result["tuned_trial"] = {
            "number": chosen.number,
            "state": chosen.state.name,
            "value": chosen.values[0] if chosen.values else None,
            "params": chosen.params,
            "changes": changed,
            "steps_to_align": chosen.user_attrs.get("steps_to_align"),
        }
        header = f"# benchmarks/gpu_tune_compare.sh: study '{job.study_name}', {why}.\n" + "".join(
            f"#   {line}\n" for line in changed
        )
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "tuned.yaml").write_text(header + apply_params(job.cfg, chosen.params).to_yaml(), "utf-8")
    (dest / "pick.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def summarize_run(run_dir: Path, start: float, eval_json: Path | None = None) -> dict[str, Any]:
    """Steps, minutes, the validation curve, steps/minutes to alignment (both measures) and the held-out
    WER of one comparison run."""
    from tacotron.tune.score import ALIGN_KEY, DIAG_KEY, MEL_KEY, steps_to_alignment

    records = _jsonl(run_dir / "metrics.jsonl")
    curve = [
        {
            "minutes": round((r["time"] - start) / 60, 3),
            "step": r["step"],
            "diagonality": r.get(DIAG_KEY),
            "alignment": r.get(ALIGN_KEY),
            "val_mel": r.get(MEL_KEY),
        }
        for r in records
        if r.get("split") == "val"
    ]
    end = [e for e in _jsonl(run_dir / "events.jsonl") if e.get("event") == "train_end"]
    last = end[-1] if end else (records[-1] if records else None)
    summary: dict[str, Any] = {
        "steps": last["step"] if last else 0,
        "minutes": round((last["time"] - start) / 60, 3) if last else None,
        "finished": bool(end),
        "curve": curve,
    }
    at_minute = {row["step"]: row["minutes"] for row in curve}
    for name, key, threshold in (
        ("diag", "diagonality", DIAG_THRESHOLD),
        ("align", "alignment", DIAG_THRESHOLD),
    ):
        points = [(row["step"], _number(row[key])) for row in curve]
        step = steps_to_alignment(points, threshold)
        summary[f"{name}_step"] = step
        summary[f"{name}_minutes"] = at_minute.get(step)
    if eval_json is not None and eval_json.is_file():
        report = json.loads(eval_json.read_text(encoding="utf-8"))
        wanted = (
            "wer",
            "cer",
            "wer_ceiling",
            "cer_ceiling",
            "mcd_db",
            "length_ratio",
            "share_stop_gate",
            "n",
        )
        summary["eval"] = {"step": report.get("step"), **{k: report["summary"].get(k) for k in wanted}}
    return summary


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def val_mel_at(curve: list[dict[str, Any]], minutes: float) -> float | None:
    """Validation mel loss of the latest validation at or before `minutes`."""
    before = [row for row in curve if row["minutes"] <= minutes + 1e-9 and row["val_mel"] is not None]
    return before[-1]["val_mel"] if before else None


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _reached(step: Any, minutes: Any, cap: int) -> str:
    return f"{step} ({minutes:.2f} min)" if step is not None else f"not by {cap}"


def table(runs: list[dict[str, Any]], pick_data: dict[str, Any] | None, device: str, note: str) -> str:
    """compare.md: one row per run, the mean per config, the study's pick; val mel at a common minute."""
    lasts = [run["curve"][-1]["minutes"] for run in runs if run["curve"]]
    common = min(lasts) if lasts else None
    lines = [f"Device: {device}. {note}".strip(), ""]
    if pick_data:
        tuned = pick_data.get("tuned_trial") or {}
        lines.append(
            f"Study '{pick_data['study']}': trials {pick_data['trials']}; {pick_data['why']}. "
            + (f"Changes from the recipe: {'; '.join(tuned['changes']) or 'none'}." if tuned else "")
        )
        recipe = pick_data.get("recipe_trial")
        if recipe:
            lines.append(
                f"The recipe's own trial ({recipe['number']}): {recipe['state']}, score "
                f"{_cell(recipe['value'], 4)}, steps to alignment {recipe['steps_to_align'] or '-'}"
                + (f" ({recipe['prune_reason']})" if recipe.get("prune_reason") else "")
                + "."
            )
        lines.append("")
    mel_head = f"val mel at {common:.2f} min" if common is not None else "val mel at a common minute"
    lines += [
        f"| config | seed | steps | minutes | steps to val diagonality >= {DIAG_THRESHOLD} | steps to val "
        f"attn/alignment >= {DIAG_THRESHOLD} | {mel_head} | last val mel | held-out WER (ceiling) | CER | "
        "held-out MCD (dB) | length ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_config: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by_config.setdefault(run["name"], []).append(run)
        ev = run.get("eval") or {}
        wer = f"{_cell(ev.get('wer'))} ({_cell(ev.get('wer_ceiling'))})" if ev else "-"
        lines.append(
            f"| {run['name']} | {run['seed']} | {run['steps']} | {_cell(run['minutes'], 2)} | "
            f"{_reached(run['diag_step'], run['diag_minutes'], run['steps'])} | "
            f"{_reached(run['align_step'], run['align_minutes'], run['steps'])} | "
            f"{_cell(val_mel_at(run['curve'], common) if common is not None else None)} | "
            f"{_cell(run['curve'][-1]['val_mel'] if run['curve'] else None)} | {wer} | "
            f"{_cell(ev.get('cer'))} | {_cell(ev.get('mcd_db'), 2)} | {_cell(ev.get('length_ratio'))} |"
        )
    for name, group in by_config.items():
        if len(group) < 2:
            continue

        def mean(values: list[Any]) -> float | None:
            return statistics.fmean(values) if values and None not in values else None

        mels = [val_mel_at(r["curve"], common) if common is not None else None for r in group]
        lines.append(
            f"| **{name}, mean** | {len(group)} seeds | {_cell(mean([r['steps'] for r in group]), 0)} | "
            f"{_cell(mean([r['minutes'] for r in group]), 2)} | "
            f"{_cell(mean([r['diag_step'] for r in group]), 0)} | "
            f"{_cell(mean([r['align_step'] for r in group]), 0)} | {_cell(mean(mels))} | - | "
            f"{_cell(mean([(r.get('eval') or {}).get('wer') for r in group]))} | "
            f"{_cell(mean([(r.get('eval') or {}).get('cer') for r in group]))} | "
            f"{_cell(mean([(r.get('eval') or {}).get('mcd_db') for r in group]), 2)} | "
            f"{_cell(mean([(r.get('eval') or {}).get('length_ratio') for r in group]))} |"
        )
    lines += [
        "",
        "Steps to alignment: the first validation at or above the threshold (a mean only when every seed "
        "got there). Minutes: wall-clock from the launch of `tacotron train`.",
    ]
    return "\n".join(lines) + "\n"


def _study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True)
    parser.add_argument("--space", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--out", type=Path, required=True, help="the study folder (`tacotron tune --out`)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    _study_arguments(sub.add_parser("baseline"))
    p = sub.add_parser("pick")
    _study_arguments(p)
    p.add_argument("--dest", type=Path, required=True)
    p = sub.add_parser("run")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--eval", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("table")
    p.add_argument("summaries", type=Path, nargs="+")
    p.add_argument("--pick", type=Path, default=None)
    p.add_argument("--device", default="?")
    p.add_argument("--note", default="")
    args = parser.parse_args(argv)
    if args.cmd == "baseline":
        queued = enqueue_baseline(_job(args))
        print(
            f"study '{args.study}': "
            + ("the recipe's values queued as the first trial" if queued else "has its recipe trial")
        )
    elif args.cmd == "pick":
        result = pick(_job(args), args.dest)
        print(f"pick: {result['why']}")
        return 0 if result["tuned_trial"] else 1
    elif args.cmd == "run":
        summary = {"name": args.name, "seed": args.seed, **summarize_run(args.run_dir, args.start, args.eval)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(
            f"{args.name} seed {args.seed}: {summary['steps']} steps in {_cell(summary['minutes'], 2)} min; "
            f"diagonality >= {DIAG_THRESHOLD} at {summary['diag_step']}, alignment at {summary['align_step']}"
            + (f"; WER {_cell(summary['eval']['wer'])}" if "eval" in summary else "")
        )
    else:
        runs = [json.loads(path.read_text(encoding="utf-8")) for path in args.summaries if path.is_file()]
        pick_data = (
            json.loads(args.pick.read_text(encoding="utf-8")) if args.pick and args.pick.is_file() else None
        )
        print(table(runs, pick_data, args.device, args.note), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
