"""Evaluation: judges that grade responses and statistics over their scores."""
