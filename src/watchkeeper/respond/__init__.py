"""Incident response: cases from alerts, YAML playbooks run durably, approvals by several people."""
