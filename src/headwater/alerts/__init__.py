"""Alerts: channels (Slack, email, PagerDuty, webhooks), the rules that route events to
them, the sender that delivers the outbox, and the watchers of deadlines, freshness and
scheduler heartbeats. See docs/alerts.md."""
