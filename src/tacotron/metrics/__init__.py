"""Pure health numbers of model outputs (attention, stop gate, mel bands): validation, the Debug Reporter
and the Smart Tuner all judge a batch with `outputs.health_metrics`."""
