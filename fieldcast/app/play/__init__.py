"""The Play panel."""
