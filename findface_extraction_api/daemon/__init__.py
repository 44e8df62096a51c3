"""The process around the service: serving, signals, graceful drain, systemd notification."""
