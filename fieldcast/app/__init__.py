"""The Fieldcast application: main window, panels, workers, settings and the command line."""
