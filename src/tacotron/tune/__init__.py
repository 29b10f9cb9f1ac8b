"""The Smart Tuner: Optuna search over a typed YAML space, and a live controller for any training run.

Modules:
- space.py       `SearchSpace.load(path)`, `apply_params(cfg, params) -> Config` (validated like any config)
- score.py       `trial_score(metrics, tune_cfg)` (lower is better; r-independent alignment), `is_aligned`,
                 hard pruning rules, steps to alignment
- proxy.py       the held-out intelligibility proxy at the end of a trial (judge WER, else val mel)
- pruning.py     `build_pruner`: ASHA over steps by default ("auto"), median, Hyperband or none
- storage.py     `make_storage(url, tune_cfg)`: SQLite in WAL mode or any SQLAlchemy URL, heartbeats + retry;
                 lost trials (also before their first heartbeat) failed and re-queued (`requeue_trial`)
- stopping.py    `StudyStop` (SIGTERM/Ctrl+C stop the study, cut trials "interrupted"), `fault_point` (tests)
- study.py       `open_study(...)` (seeded multivariate TPE, pruning.py's pruner), `run_worker(...)`,
                 `count_finished` (re-queued and never-started trials do not count)
- objective.py   `TrialObjective`: one trial = a short run of the real `Trainer`; PRUNED/FAILED with reasons
- runner.py      `TuneJob`, `run_trials`, `finish` (export + report), local worker processes
- export.py      `export_best(study, base_cfg, out_dir) -> (best.yaml, best.pt)`
- report.py      `write_study_report(study, out_dir, base=cfg) -> (report.html, report.md)`
- explain.py     `explain_winner(study, base)`: the report's plain-language verdict on the best trial
- controller.py  `LiveController` (a trainer Callback; pure policy `decide`)
- callbacks.py   `run_callbacks(cfg, run_dir)`: the one place a run's callbacks are assembled
- compare.py     `compare_configs(...)`: steps to alignment of several configs on one corpus

Only callbacks.py and controller.py are on the training import path (`tacotron train` uses `run_callbacks`);
they (and stopping.py) need no optuna. Everything else imports optuna inside functions.
"""
