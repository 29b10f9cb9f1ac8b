"""The Debug Reporter: training-health metrics, anomaly detection, recovery policy and the run report.

`monitor.HealthMonitor` is the trainer `Callback`; `report.write_report(run_dir)` writes the report.
The pure output metrics it shares with validation and the Smart Tuner live in `tacotron.metrics`.
"""
