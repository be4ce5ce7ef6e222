"""The Data panel."""
