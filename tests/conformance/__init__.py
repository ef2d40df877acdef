"""The conformance checks: what ``hil run`` runs against a target. Shipped with hil as
package data, so a user's project runs the same checks after ``pip install``."""
