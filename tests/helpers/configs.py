"""Small configs for CPU tests, and the Smart Tuner's trial settings."""

from __future__ import annotations

from tacotron.config import Config, LossConfig


def tiny_config(**sections) -> Config:
    """A Config whose model is small enough for CPU tests (a few hundred k parameters)."""
    cfg = Config()
    m = cfg.model
    m.symbols_embedding_dim = 32
    m.encoder_embedding_dim = 32
    m.encoder_n_convolutions = 1
    m.attention_rnn_dim = 48
    m.attention_dim = 16
    m.attention_location_n_filters = 4
    m.attention_location_kernel_size = 7
    m.decoder_rnn_dim = 48
    m.prenet_dim = 32
    m.postnet_embedding_dim = 32
    m.postnet_n_convolutions = 2
    m.max_decoder_steps = 200
    cfg.audio.n_mels = 80
    t = cfg.train
    t.batch_size = 4
    t.max_steps = 4
    t.eval_every = 2
    t.checkpoint_every = 2
    t.log_every = 1
    t.n_val_synth = 1
    t.loggers = []
    cfg.data.workers = 1
    for name, values in sections.items():
        for key, value in values.items():
            setattr(getattr(cfg, name), key, value)
    return cfg


def variant_config(kind: str, *, gst_ref_channels: tuple[int, ...] = (4, 8), **loss) -> Config:
    """tiny_config() as a plain, GST or DDC model with every dropout off, and loss weights that all differ
    from 1 (the guided one decaying), so a test can tell the terms apart; `loss` overrides weights."""
    cfg = tiny_config()
    m = cfg.model
    m.encoder_dropout = m.prenet_dropout = m.postnet_dropout = 0.0
    m.p_attention_dropout = m.p_decoder_dropout = 0.0
    if kind == "gst":
        m.gst, m.gst_n_tokens, m.gst_heads, m.gst_token_dim = True, 4, 2, 8
        m.gst_ref_channels, m.gst_ref_gru_dim = list(gst_ref_channels), 8
    if kind == "ddc":
        m.ddc, m.ddc_r = True, 3
    weights = dict(
        mel_weight=0.5,
        postnet_weight=2.0,
        gate_weight=0.7,
        guided_attn_weight=3.0,
        guided_attn_decay_start=0,
        guided_attn_decay_rate=0.5,
        guided_attn_decay_steps=2,
        guided_attn_min_weight=0.0,
        ddc_weight=0.3,
        ddc_attn_weight=1.5,
    )
    cfg.loss = LossConfig(**(weights | loss))
    return cfg


def fast_config(**train) -> Config:
    """tiny_config() with r=3 (a third of the decoder steps), no syntheses, short inference."""
    cfg = tiny_config()
    cfg.model.n_frames_per_step = 3
    cfg.model.max_decoder_steps = 20
    cfg.health.enabled = False
    cfg.tune.controller = False
    t = cfg.train
    t.n_val_synth = 0
    t.eval_every = 1000
    t.checkpoint_every = 2
    t.lr_schedule = "constant"
    for key, value in train.items():
        setattr(t, key, value)
    return cfg


def no_dropout(cfg: Config) -> Config:
    """Every dropout off, so two runs that see the same data compute the same gradients."""
    m = cfg.model
    m.encoder_dropout = m.prenet_dropout = m.postnet_dropout = 0.0
    m.p_attention_dropout = m.p_decoder_dropout = 0.0
    return cfg


# Lower LR = deterministically worse score on the tiny corpus after any number of steps (same init),
# so an enqueued lr=1e-5 trial after an lr=1e-3 trial is pruned by the median pruner at its first report.
TRIAL_SPACE = {
    "params": {
        "train.lr": {"type": "log", "low": 1.0e-5, "high": 3.0e-3},
        "loss.guided_attn_weight": {"type": "log", "low": 0.5, "high": 5.0},
    }
}


def trial_base_config() -> Config:
    """tiny_config() made cheaper for trials: r=3, batch 2, 3 steps, a report after every step."""
    cfg = tiny_config()
    cfg.model.n_frames_per_step = 3
    cfg.train.batch_size = 2
    cfg.train.n_val_synth = 0
    cfg.health.enabled = False  # its end-of-run HTML report costs seconds per trial
    t = cfg.tune
    t.steps_per_trial, t.report_every = 3, 1
    t.pruner, t.pruner_startup_trials, t.pruner_warmup_steps = "median", 1, 0
    t.heartbeat_interval, t.heartbeat_grace = 1, 2
    t.proxy_sentences = 0  # no ASR judge at the end of each trial (tests/tune/test_proxy.py runs it)
    return cfg


def trial_job(cfg: Config, dataset_dir, out_dir, study_name: str, trials: int, **extra):
    """A one-process `TuneJob` over TRIAL_SPACE on the CPU (the tuner tests' study); `extra`: proxy,
    objective_kwargs, progress."""
    from tacotron.tune.runner import TuneJob
    from tacotron.tune.space import SearchSpace

    return TuneJob(
        cfg=cfg, dataset_dir=dataset_dir, space=SearchSpace.from_dict(TRIAL_SPACE), study_name=study_name,
        out_dir=out_dir, trials=trials, device="cpu", **extra,
    )  # fmt: skip
