"""Operations: Prometheus metrics (`metrics.METRICS`), the /metrics, /healthz and /readyz endpoint
(`http.OpsServer`), and logging set-up with secrets redacted (`logs.setup_logging`)."""
