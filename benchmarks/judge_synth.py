"""WER of a `tacotron synth` output folder (e.g. from a GPU machine without pocketsphinx) next to its ceiling.

The judge is the one `tacotron eval` uses (pocketsphinx, bigram LM from the training corpus text only);
the ceiling is espeak-ng ground truth of the same sentences through the same mel -> Griffin-Lim path.

usage: python benchmarks/judge_synth.py SYNTH_DIR CORPUS_METADATA_CSV [--lang en]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch


def main() -> int:
    from tacotron.audio import MelSpectrogram, load_wav, mel_basis
    from tacotron.audio.vocoder import GriffinLimVocoder
    from tacotron.config import AudioConfig, TextConfig
    from tacotron.data.demo_corpus import write_reference_wavs
    from tacotron.infer.judge import SphinxJudge, word_errors
    from tacotron.infer.lm import corpus_sentences
    from tacotron.text import TextFrontend
    from tacotron.text.words import words_of

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("synth_dir")
    parser.add_argument("corpus_text")
    parser.add_argument("--lang", default="en")
    args = parser.parse_args()
    records = [json.loads(line) for line in (Path(args.synth_dir) / "synth.jsonl").read_text().splitlines()]
    normalize = TextFrontend(TextConfig(language=args.lang)).normalize
    judge = SphinxJudge.from_training_text(corpus_sentences(args.corpus_text), normalize)
    audio = AudioConfig()
    mel_fn, vocoder = MelSpectrogram(audio), GriffinLimVocoder(audio, mel_basis(audio))
    words = errors = ceiling_errors = 0
    with tempfile.TemporaryDirectory() as tmp:
        refs = write_reference_wavs([r["text"] for r in records], tmp, args.lang)
        for i, record in enumerate(records, start=1):
            reference = words_of(record["text"], normalize)
            wav = load_wav(Path(args.synth_dir) / f"{i:03d}.wav", audio.sample_rate)
            truth = torch.from_numpy(load_wav(refs / f"{i:03d}.wav", audio.sample_rate))
            mel = mel_fn(truth)
            ceiling = vocoder(mel, [mel.shape[2]])[0]
            words += len(reference)
            errors += word_errors(reference, judge.transcribe(wav, audio.sample_rate))
            ceiling_errors += word_errors(reference, judge.transcribe(ceiling, audio.sample_rate))
    result = {"n": len(records), "words": words, "wer": errors / words, "wer_ceiling": ceiling_errors / words}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
