"""Analysis scripts: read run directories (by their configs, never their names) and report."""
