"""Astarte interface files that hil's checks and fixtures install (package data: read them
through :func:`hil.package_data.interfaces_dir`, never by a path relative to a source file)."""
