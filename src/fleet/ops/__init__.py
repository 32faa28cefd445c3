"""Operations: request context and structured logs, Prometheus metrics, `fleet doctor`."""
