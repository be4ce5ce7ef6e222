"""The Train panel."""
