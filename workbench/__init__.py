"""The workbench terminal app and the `workbench` command. Training itself lives in `trainers`."""
