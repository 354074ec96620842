"""The weekly e-mail digest: periods (period.py), messages (compose.py), SMTP delivery and
the digest log (deliver.py), and the `regwatch digest` command (command.py)."""
