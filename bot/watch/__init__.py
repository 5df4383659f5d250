"""Metric watch: Prometheus rules evaluated during the go-live sequence, their alerts, and the template's immediate rollback triggers."""
