"""The Runs panel."""
