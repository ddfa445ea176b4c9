"""Run identity, run directories, provenance and loggers."""
