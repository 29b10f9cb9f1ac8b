"""Vocoder training for a voice: teacher-forced mel export (`dump`) and HiFi-GAN fine-tuning (`trainer`).

Above `infer` in the layer order: it builds on the inference generator (`tacotron.infer.hifigan`) and the
Synthesizer's checkpoint loading; `infer` reads the checkpoints written here through `infer.hifigan` alone.
"""
