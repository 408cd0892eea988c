"""Workflows that join the pure core to the store: apply the plan, CSRs, imports, trust."""
