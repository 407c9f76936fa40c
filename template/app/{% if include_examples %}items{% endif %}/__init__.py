"""The example domain: items, their routes, rules and storage. Copy it to start a new domain."""
