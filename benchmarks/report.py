"""Benchmark results (a JSON-able dict) -> Markdown tables of absolute numbers and ratios ours / torchaudio."""

from __future__ import annotations

import math


def ratio(ours: float | None, theirs: float | None) -> str:
    """'3.21x', or 'n/a' when either side is missing or zero."""
    if not ours or not theirs or math.isnan(ours) or math.isnan(theirs):
        return "n/a"
    return f"{ours / theirs:.2f}x"


def _num(value: float | None, fmt: str = "{:,.0f}") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else fmt.format(value)


def _train_table(rows: list[dict]) -> list[str]:
    compiled = any("ours_graphed_compiled" in row for row in rows)
    extra = " | ours graph, compiled step | compiled / torchaudio" if compiled else ""
    lines = [
        "| batch | precision | r | torchaudio | ours eager | ours CUDA graph | graph / torchaudio | eager / torchaudio "
        f"| peak reserved GiB torchaudio / graph{extra} |",
        "|---|---|---|---|---|---|---|---|---|" + ("---|---|" if compiled else ""),
    ]
    for row in rows:
        ta, eager, graph = (row.get(k, {}) for k in ("torchaudio", "ours_eager", "ours_graphed"))
        line = (
            f"| {row['batch']} | {row['precision']} | {row['r']} | {_num(ta.get('frames_per_s'))} "
            f"| {_num(eager.get('frames_per_s'))} | {_num(graph.get('frames_per_s'))} "
            f"| {ratio(graph.get('frames_per_s'), ta.get('frames_per_s'))} "
            f"| {ratio(eager.get('frames_per_s'), ta.get('frames_per_s'))} "
            f"| {_num(ta.get('peak_gib'), '{:.1f}')} / {_num(graph.get('peak_gib'), '{:.1f}')} |"
        )
        if compiled:
            fast = row.get("ours_graphed_compiled", {}).get("frames_per_s")
            line += f" {_num(fast)} | {ratio(fast, ta.get('frames_per_s'))} |"
        lines.append(line)
    return lines


def _decode_table(rows: list[dict]) -> list[str]:
    # two more columns for each other decoding step present: its fp32 / bf16 rates, its fp32 / torchaudio
    steps = [
        (suffix, label)
        for suffix, label in (("_prepared", "prepared step"), ("_compiled", "compiled step"))
        if any(f"ours_graphed{suffix}" in row for row in rows)
    ]
    extra = "".join(f" | {label} fp32 / bf16 | {label} fp32 / torchaudio" for _, label in steps)
    lines = [
        "| batch | steps | torchaudio | ours eager | ours CUDA graph fp32 | ours CUDA graph bf16 "
        f"| graph fp32 / torchaudio{extra} |",
        "|---|---|---|---|---|---|---|" + "---|---|" * len(steps),
    ]
    for row in rows:
        line = (
            f"| {row['batch']} | {row['steps']} | {_num(row.get('torchaudio'))} | {_num(row.get('ours_eager'))} "
            f"| {_num(row.get('ours_graphed'))} | {_num(row.get('ours_graphed_bf16'))} "
            f"| {ratio(row.get('ours_graphed'), row.get('torchaudio'))} |"
        )
        for suffix, _ in steps:
            line += (
                f" {_num(row.get(f'ours_graphed{suffix}'))} / {_num(row.get(f'ours_graphed_bf16{suffix}'))} "
                f"| {ratio(row.get(f'ours_graphed{suffix}'), row.get('torchaudio'))} |"
            )
        lines.append(line)
    return lines


def to_markdown(results: dict) -> str:
    """The whole report; sections missing from `results` are left out."""
    env = results.get("env", {})
    out = [
        f"Device: {env.get('device', '?')}; torch {env.get('torch', '?')}, torchaudio {env.get('torchaudio', '?')}; "
        f"{env.get('date', '?')}. TF32 on for fp32 matmuls/convs."
        + (
            " Compiled-step rows: ours with the compiled decoder step (train.compile_decoder_step,"
            " GraphedInference(compile_step=True))."
            if results.get("args", {}).get("compile_decoder_step")
            else ""
        ),
        "",
    ]
    if "parity" in results:
        p = results["parity"]
        out += [
            f"Same work checked: parameters ours {p['params_ours']:,} vs torchaudio {p['params_torchaudio']:,}; "
            f"output shapes {p['output_shapes']['ours']} (both).",
            "",
        ]
    if results.get("train"):
        out += [
            "### Training (real mel frames/s; forward + loss + backward + clip + Adam)",
            "",
            *_train_table(results["train"]),
            "",
        ]
    if results.get("cpu_demo"):
        out += [
            "### Demo model training speed (eager fp32, demo-corpus-shaped batches)",
            "",
            "| r | batch | threads | steps/s | s/step | mel frames/s |",
            "|---|---|---|---|---|---|",
            *(
                f"| {row['r']} | {row['batch']} | {row['threads']} | {row['steps_per_s']:.2f} "
                f"| {row['s_per_step']:.2f} | {_num(row['frames_per_s'])} |"
                for row in results["cpu_demo"]
            ),
            "",
        ]
    if results.get("decode"):
        out += [
            "### Decoding (frames/s, fixed number of decoder steps, prenet dropout on, no vocoder)",
            "",
            *_decode_table(results["decode"]),
            "",
        ]
    if results.get("rtf"):
        r = results["rtf"]
        out += [
            "### End to end, batch 1, Griffin-Lim (32 iterations) on the GPU",
            "",
            "| | seconds | audio seconds | real-time factor (lower is faster) |",
            "|---|---|---|---|",
        ]
        for name in ("torchaudio", "ours_graphed"):
            if name in r:
                out.append(
                    f"| {name} | {r[name]['seconds']:.3f} | {r['audio_seconds']:.2f} | {r[name]['rtf']:.4f} |"
                )
        out.append("")
        if "synthesizer" in r:
            out += [
                f"`Synthesizer.synthesize`, batch 1, vocoder {r['synthesizer_vocoder']}:",
                "",
                "| decoding | seconds | audio seconds | real-time factor |",
                "|---|---|---|---|",
            ]
            for name, label in (("synthesizer", "auto"), ("synthesizer_eager", "eager")):
                row = r[name]
                mode = f"{label} ({'fast' if row['fast'] else 'eager'})"
                out.append(f"| {mode} | {row['seconds']:.3f} | {r['audio_seconds']:.2f} | {row['rtf']:.4f} |")
            out.append("")
    if results.get("kernels"):
        k = results["kernels"]
        out += [
            "### Kernels per decoder step (eager; a CUDA graph replays the same kernels)",
            "",
            "| workload | model | kernels per step | kernel µs per step |",
            "|---|---|---|---|",
            *(
                f"| {part} | {name} | {v['kernels_per_step']:.1f} | {v['kernel_us_per_step']:.1f} |"
                for part in ("train", "decode")
                for name, v in k.get(part, {}).items()
            ),
            "",
        ]
    if results.get("max_batch"):
        m = results["max_batch"]
        out += [
            f"### Largest training batch at text {m['text_len']} / mel {m['mel_len']} frames ({m['precision']}, "
            f"memory capped at {m.get('memory_cap_gib', float('nan')):.0f} GiB)",
            "",
            "| model | largest batch |",
            "|---|---|",
        ]
        out += [f"| {k} | {v} |" for k, v in m["sizes"].items()]
        out.append("")
    return "\n".join(out)
