"""What operators look at: Prometheus metrics, liveness and readiness (``/metrics``,
``/health``, ``/ready``) and the progress lines of long CLI work."""
