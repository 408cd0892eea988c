"""The lab (ccapki.lab, ccapki.probe) in process, and `ccapki lab` and `verify --live`
through the CLI."""
