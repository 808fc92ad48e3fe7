"""Prometheus metrics of one API worker (``GET /metrics``).

Requests by route and status, request latency, audit queue depth, audit flush
latency and audit write failures. Each worker keeps its own registry; in
Kubernetes run one worker per pod and let replicas scale.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """The worker's metric families, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "examstutor_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "examstutor_http_request_duration_seconds",
            "Time from request to response, by route",
            ["route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.audit_queue_depth = Gauge(
            "examstutor_audit_queue_depth",
            "Audit events waiting for a flush",
            registry=self.registry,
        )
        self.audit_flush = Histogram(
            "examstutor_audit_flush_seconds",
            "Time to commit one batch of audit events",
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
        )
        self.audit_batch = Histogram(
            "examstutor_audit_flush_events",
            "Audit events per committed batch",
            registry=self.registry,
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
        )
        self.audit_failures = Counter(
            "examstutor_audit_write_failures",
            "Requests refused because their audit event could not be stored",
            registry=self.registry,
        )

    def observe_flush(self, size: int, seconds: float) -> None:
        """The audit writer's ``on_flush`` callback."""
        self.audit_flush.observe(seconds)
        self.audit_batch.observe(size)

    def render(self, queue_depth: int) -> bytes:
        """The Prometheus text exposition."""
        self.audit_queue_depth.set(queue_depth)
        return generate_latest(self.registry)
