"""Putting audio back in sync: the sample-exact shift and the tracks' consensus offset."""
