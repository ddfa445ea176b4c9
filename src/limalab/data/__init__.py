"""Read the sources, filter them, mix and subset them, format them for chat training."""
