"""Running experiments: the train entry point and Lightning CLI, their shared pre-flight and one-line errors,
checkpoints, loggers, summaries, seeding, fault handling, parallel jobs and the Hydra schemas."""
