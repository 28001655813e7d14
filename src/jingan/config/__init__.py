"""Settings, URL map, ASGI entry, schedules and the ``jingan`` command line: the wiring."""
