"""Evaluation of a checkpoint on held-out sentences: alignment health, stopping, length, intelligibility.

Why these numbers together: low loss does not mean speech. Diagonality says whether attention reads
the text in order, the stop shares whether the gate learnt to end utterances (rather than the
max-steps guard cutting them off), length ratios whether the speaking rate is plausible, and the WER
of an ASR judge whether a listener would understand it. With references, the same judge on ground
truth passed through the same mel -> vocoder path gives the ceiling the model can reach with this
vocoder, and MCD measures how far the predicted mels are from the real ones.

Multi-speaker checkpoints: each sentence is read by one speaker, recorded in its record ("speaker"),
and eval.json gets "per_speaker" (the summary over each speaker's sentences). With a `speaker` every
sentence uses it; without, sentences go round-robin over the checkpoint's speakers (sentence i ->
speakers[i % n]), so every speaker is heard at the cost of one pass. Why not every sentence by every
speaker: n times the cost; the honest caveat is that round-robin speakers read different sentences, so
per-speaker numbers differ by sentence too. To compare speakers on equal text, run once per `speaker`;
with references, pass the speaker who recorded them (MCD against another voice means little).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacotron.infer.synthesizer import EmptyInputError, SynthesisResult, Synthesizer

logger = logging.getLogger(__name__)

STOP_REASONS = ("gate", "end_of_text", "max_steps")


@dataclass
class EvalSentence:
    """One sentence to evaluate; `id` names its reference wav (<reference_dir>/<id>.wav)."""

    id: str
    text: str


def read_sentences(path: str | Path) -> list[EvalSentence]:
    """Lines "text" (ids 001, 002, ... by line) or LJSpeech-style "id|text[|normalized]" (raw text used)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sentence file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise EmptyInputError(f"{path} contains no sentences")
    items = []
    for number, line in enumerate(lines, start=1):
        if "|" in line:
            item_id, text = line.split("|")[:2]
            items.append(EvalSentence(item_id.strip(), text.strip()))
        else:
            items.append(EvalSentence(f"{number:03d}", line))
    return items


def _attention_fields(result: SynthesisResult) -> dict[str, float]:
    from tacotron.metrics.attention import attention_health_per_item

    steps, symbols = result.alignment.shape
    scores = attention_health_per_item(
        torch.from_numpy(result.alignment)[None], torch.tensor([symbols]), torch.tensor([steps])
    )
    return {key: float(value[0]) for key, value in scores.items()}


def sentence_speakers(synth: Synthesizer, n: int, speaker: str | None = None) -> list[str] | None:
    """The speaker reading each of `n` sentences (see the module docstring); None for a single-speaker
    model. An unknown `speaker` (or any speaker for a single-speaker model) is `UnknownSpeakerError`."""
    if speaker is not None:
        synth.speaker_ids(speaker)  # raises UnknownSpeakerError listing the known ones
    if not synth.speakers:
        return None
    if speaker is not None:
        return [speaker] * n
    return [synth.speakers[i % len(synth.speakers)] for i in range(n)]


def per_speaker(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`summarise` over each speaker's sentences, by speaker name (in the order first met)."""
    names = list(dict.fromkeys(r["speaker"] for r in records if "speaker" in r))
    return {name: summarise([r for r in records if r.get("speaker") == name]) for name in names}


def _synthesis_fields(item: EvalSentence, result: SynthesisResult) -> dict[str, Any]:
    return {
        "id": item.id,
        "text": item.text,
        "cleaned": result.cleaned,
        "frames": result.frames,
        "audio_seconds": result.audio_seconds,
        "stop_reason": result.stop_reason,
        "frames_per_char": result.frames / max(1, len(result.cleaned)),
        "rtf": result.seconds / max(result.audio_seconds, 1e-9),
        **_attention_fields(result),
    }


def _reference_fields(
    record: dict[str, Any],
    result: SynthesisResult,
    reference: Path,
    synth: Synthesizer,
    mel_fn: torch.nn.Module,
) -> np.ndarray:
    """Add length ratio and MCDs to `record`; return the reference passed through mel -> vocoder (the ceiling).

    `mcd_db` compares the predicted mel with the reference's, so it cannot see the vocoder; `mcd_audio_db`
    (the synthesised audio) and `mcd_ceiling_db` (the reference's own mel through the vocoder) re-analyse
    the vocoder's output into a mel first, so two vocoders on the same model differ there (None for audio
    too short to analyse, as an untrained model's one-frame output).
    """
    from tacotron.audio import load_wav
    from tacotron.infer.metrics import mel_cepstral_distortion

    wav = load_wav(reference, synth.cfg.audio.sample_rate)
    ref_mel = mel_fn(torch.from_numpy(wav))  # (1, n_mels, T)
    frames = ref_mel.shape[2]
    reference_mel = ref_mel[0].numpy()
    record["reference"] = str(reference)
    record["reference_frames"] = frames
    record["length_ratio"] = result.frames / frames
    record["mcd_db"] = mel_cepstral_distortion(result.mel, reference_mel)
    # on the model's device: Griffin-Lim runs where its mel is (on the CPU it was minutes per eval on a GPU)
    ceiling = synth.vocoder(ref_mel.to(synth.device), [frames])[0]
    for key, audio in (("mcd_audio_db", result.wav), ("mcd_ceiling_db", ceiling)):
        if len(audio) <= mel_fn.padding:
            record[key] = None
            continue
        heard = mel_fn(torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)))[0].numpy()
        record[key] = mel_cepstral_distortion(heard, reference_mel)
    return ceiling


def _judge_for(
    corpus_text: str | Path | None, normalize: Callable[[str], str], seed: int, mode: str = "closed"
) -> tuple[Any, dict[str, Any]]:
    from tacotron.infer.judge import SphinxJudge
    from tacotron.infer.lm import corpus_sentences

    if mode == "open":
        judge = SphinxJudge.open_vocabulary(seed)
        info = {
            "mode": "open",
            "lm": f"pocketsphinx general en-us LM and dictionary ({len(judge.vocabulary)} words), open vocabulary",
            "missing_pronunciations": [],
        }
        return judge, info
    if mode != "closed":
        raise ValueError(f"judge mode must be 'closed' or 'open', got {mode!r}")
    if corpus_text is None:
        logger.warning(
            "no --corpus-text: judging with pocketsphinx's generic LM (WER about 0.6 on ground truth)"
        )
        return SphinxJudge(None, seed), {"lm": "pocketsphinx generic en-us", "missing_pronunciations": []}
    texts = corpus_sentences(corpus_text)
    judge = SphinxJudge.from_training_text(texts, normalize, seed)
    info = {
        "lm": f"bigram from training text {corpus_text} ({len(texts)} sentences, {len(judge.lm.vocabulary)} words)",
        "missing_pronunciations": judge.lm.missing,
    }
    return judge, info


def _add_wer(
    records: list[dict[str, Any]],
    results: list[SynthesisResult],
    ceilings: list[np.ndarray | None],
    judge: Any,
    normalize: Callable[[str], str],
    workers: int = 1,
) -> None:
    """Transcribe synthesis (and the ceiling audio where present) and add words, errors, WER and CER."""
    from tacotron.infer.judge import (
        char_error_rate,
        char_errors,
        transcribe_all,
        word_error_rate,
        word_errors,
    )
    from tacotron.text.words import words_of

    vocabulary = judge.vocabulary
    audio = [(r.wav, r.sample_rate) for r in results]
    audio += [(c, r.sample_rate) for r, c in zip(results, ceilings, strict=True) if c is not None]
    heard = iter(transcribe_all(judge, audio, workers))
    hypotheses = [next(heard) for _ in results]
    for record, result, ceiling, hypothesis in zip(records, results, ceilings, hypotheses, strict=True):
        reference = words_of(result.text, normalize)
        record.update(
            ref_words=reference,
            hyp_words=hypothesis,
            word_errors=word_errors(reference, hypothesis),
            wer=word_error_rate(reference, hypothesis),
            char_errors=char_errors(reference, hypothesis),
            cer=char_error_rate(reference, hypothesis),
            oov_words=sorted({w for w in reference if vocabulary is not None and w not in vocabulary}),
        )
        if ceiling is not None:
            truth = next(heard)
            record.update(
                ceiling_hyp_words=truth,
                ceiling_word_errors=word_errors(reference, truth),
                wer_ceiling=word_error_rate(reference, truth),
                ceiling_char_errors=char_errors(reference, truth),
                cer_ceiling=char_error_rate(reference, truth),
            )


def _mean(records: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(values)) if values else None


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch-level numbers: stop shares, mean health and length, corpus-level WER (errors / words)."""
    n = len(records)
    summary: dict[str, Any] = {"n": n}
    for reason in STOP_REASONS:
        summary[f"share_stop_{reason}"] = sum(r["stop_reason"] == reason for r in records) / n
    for key in (
        "attn/diagonality",
        "attn/monotonicity",
        "attn/coverage",
        "attn/end_alignment",
        "attn/alignment",
        "frames_per_char",
        "rtf",
        "length_ratio",
        "mcd_db",
        "mcd_audio_db",
        "mcd_ceiling_db",
    ):
        summary[key] = _mean(records, key)
    words = sum(len(r.get("ref_words", [])) for r in records)
    chars = sum(len(" ".join(r.get("ref_words", []))) for r in records)
    for prefix in ("", "ceiling_"):
        errors = [r[f"{prefix}word_errors"] for r in records if f"{prefix}word_errors" in r]
        summary["wer_ceiling" if prefix else "wer"] = sum(errors) / max(1, words) if errors else None
        errors = [r[f"{prefix}char_errors"] for r in records if f"{prefix}char_errors" in r]
        summary["cer_ceiling" if prefix else "cer"] = sum(errors) / max(1, chars) if errors else None
    if n and all("word_errors" in r and "ceiling_word_errors" in r for r in records):
        # the gap the bar is about, and how far other sentences would move it
        from tacotron.infer.judge import paired_gap_interval

        summary["wer_gap"] = summary["wer"] - summary["wer_ceiling"]
        summary["wer_gap_ci95"] = list(
            paired_gap_interval(
                [r["word_errors"] for r in records],
                [r["ceiling_word_errors"] for r in records],
                [len(r["ref_words"]) for r in records],
            )
        )
    oov = sum(len([w for w in r.get("ref_words", []) if w in r.get("oov_words", [])]) for r in records)
    summary["oov_rate"] = oov / words if words else None
    return summary


def evaluate(
    synth: Synthesizer,
    sentences: list[EvalSentence],
    *,
    reference_dir: str | Path | None = None,
    corpus_text: str | Path | None = None,
    asr: bool = True,
    batch_size: int = 8,
    seed: int = 0,
    judge: str = "closed",
    asr_workers: int = 1,
    speaker: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Any], list[SynthesisResult]]:
    """Synthesise and score `sentences`; returns (eval.json content, the synthesis results).

    `judge`: "closed" (LM from `corpus_text`; pocketsphinx's generic LM without it) or "open"
    (pocketsphinx's general LM and dictionary, for open-vocabulary corpora; `corpus_text` unused).
    `asr_workers`: processes for the open-vocabulary recogniser. `speaker`: see the module docstring.
    `progress`: `Synthesizer.synthesize`'s (done, total) callback over the synthesis batches.
    """
    from tacotron.audio import MelSpectrogram, mel_basis

    speakers = sentence_speakers(synth, len(sentences), speaker)
    results = synth.synthesize(
        [s.text for s in sentences], batch_size, seed=seed, speaker=speakers, progress=progress
    )
    records = [_synthesis_fields(item, result) for item, result in zip(sentences, results, strict=True)]
    for record, name in zip(records, speakers or [], strict=False):
        record["speaker"] = name
    ceilings: list[np.ndarray | None] = [None] * len(sentences)
    if reference_dir is not None:
        mel_fn = MelSpectrogram(synth.cfg.audio, mel_basis(synth.cfg.audio))
        for i, (item, result) in enumerate(zip(sentences, results, strict=True)):
            reference = Path(reference_dir) / f"{item.id}.wav"
            if not reference.is_file():
                raise FileNotFoundError(
                    f"reference wav for sentence {item.id!r} ({item.text[:40]!r}) not found: {reference}"
                )
            ceilings[i] = _reference_fields(records[i], result, reference, synth, mel_fn)
    judge_info: dict[str, Any] = {"used": False}
    language = synth.cfg.text.language
    if asr and language != "en":
        judge_info["reason"] = f"no offline recogniser for language {language!r}"
        logger.warning("skipping WER: %s", judge_info["reason"])
    elif asr:
        asr_judge, info = _judge_for(corpus_text, synth.frontend.normalize, seed, judge)
        judge_info = {"used": True, "engine": "pocketsphinx en-us", **info}
        _add_wer(records, results, ceilings, asr_judge, synth.frontend.normalize, asr_workers)
    report = {
        "checkpoint": str(synth.checkpoint) if synth.checkpoint else None,
        "step": synth.step,
        "vocoder": type(synth.vocoder).__name__,
        "vocoder_weights": getattr(synth.vocoder, "weights", None),  # which HiFi-GAN (--hifigan-weights)
        "language": language,
        "judge": judge_info,
        "summary": summarise(records),
        **({"per_speaker": per_speaker(records)} if speakers else {}),
        "sentences": records,
    }
    return report, results


def score_audio(
    texts: list[str],
    wav_paths: list[Path],
    normalize: Callable[[str], str],
    judge: Any,
    workers: int = 1,
) -> dict[str, Any]:
    """WER and CER of recorded audio against its text (no model): the voice's own ceiling, or a check
    of the judge itself. Returns {"wer", "cer", "words", "sentences": [{text, ref_words, hyp_words}]}."""
    from tacotron.audio import load_wav
    from tacotron.infer.judge import char_count, char_errors, transcribe_all, word_errors
    from tacotron.text.words import words_of

    audio = [(load_wav(path, 16000), 16000) for path in wav_paths]
    hypotheses = transcribe_all(judge, audio, workers)
    references = [words_of(text, normalize) for text in texts]
    words = sum(len(r) for r in references)
    return {
        "wer": sum(word_errors(r, h) for r, h in zip(references, hypotheses, strict=True)) / max(1, words),
        "cer": sum(char_errors(r, h) for r, h in zip(references, hypotheses, strict=True))
        / max(1, sum(char_count(r) for r in references)),
        "words": words,
        "sentences": [
            {"text": t, "ref_words": r, "hyp_words": h}
            for t, r, h in zip(texts, references, hypotheses, strict=True)
        ],
    }
