"""HTTP: health checks and Prometheus metrics (`http:` in the config)."""
