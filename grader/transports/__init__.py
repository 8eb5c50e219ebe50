"""Transports carry declared probes to hosts and bring raw results back; they judge nothing."""
