"""Base layouts (console, resident H5, big screen), shared partials, the landing page."""
