"""Where the logs themselves went wrong: sequence gaps per log stream, and callback outages per provider."""
