"""Running gateway as a system service: the systemd unit and its installation."""
