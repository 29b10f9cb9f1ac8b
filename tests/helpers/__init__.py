"""Plain helpers shared by the test suite: import them as `from tests.helpers.<module> import name`.

Fixtures stay in the `conftest.py` files; everything a test calls directly (configs, synthetic data,
tiny checkpoints, fakes, local servers, subprocess runners) lives here, in one place, so that a test
module never imports a `conftest` (pytest loads every folder's conftest under the same bare name).
`tests` itself has no `__init__.py`: it is found as a namespace package through `pythonpath = ["."]`
in pyproject.toml, and test modules keep their plain basenames.

- configs      tiny_config, fast_config, no_dropout, trial_base_config, TRIAL_SPACE
- batches      random_batch, N_SYMBOLS (random padded batches through the real collate)
- datasets     write_synthetic_dataset, triangular_filterbank (numpy only, no espeak-ng)
- speech       espeak, SENTENCES, TRAINING_TEXT (real espeak-ng speech)
- checkpoints  write_tiny_checkpoint, write_serving_checkpoint, model_params
- fakes        FakeTacotron, FakeOutput, fake_batch, SpySynthesizer
- servers      recording_server, refusing_url, free_port (loopback only)
- processes    subprocess_env, run_python
"""
